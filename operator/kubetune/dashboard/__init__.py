"""``kubetune dashboard``: a read-only web view of studies, local or on a cluster.

``view`` turns a study record into the JSON the pages poll (the trial table sorted, filtered
and paged on the server, so 10,000 trials stay fast), ``pages`` and ``curve`` write the HTML
and SVG, all pure; ``server`` is the edge: a stdlib HTTP server that reads records through
``kubetune.local.reader`` or ``kubetune.kube.reader`` and never writes anything.
"""
