"""Integration tests run against a real control plane started by `tests.cluster`.

The fixtures live in `tests.cluster.fixtures` so the e2e suite can share them; see that
module for `cluster`, `kube_api` and `namespace`. Test modules here mark themselves
`pytestmark = pytest.mark.integration` (deselect with `pytest -m "not integration"`).
"""

from tests.cluster.fixtures import TestCluster, cluster, kube_api, namespace

__all__ = ["TestCluster", "cluster", "kube_api", "namespace"]
