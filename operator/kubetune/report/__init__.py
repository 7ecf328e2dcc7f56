"""``kubetune report``: one self-contained HTML page of a study, readable offline.

The plots are built by ``kubetune.figures`` as plain JSON; this package only puts them on a
page: plotly.js (from the installed ``plotly`` package, the optional ``kubetune[report]``
extra), ``draw.js`` (shared with ``kubetune dashboard``), the page's CSS and the study's JSON,
all inlined, so the file opens anywhere without a network. The operator image does not
install plotly and never imports this package.
"""

from __future__ import annotations

from kubetune.report._assets import PlotlyMissing, draw_js, page_css, plotly_js
from kubetune.report._page import report_html, write_report

__all__ = ["PlotlyMissing", "draw_js", "page_css", "plotly_js", "report_html", "write_report"]
