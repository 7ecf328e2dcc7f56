"""Integration tests run against a real control plane started by `tests.cluster`.

The fixtures live in `tests.cluster.fixtures` so the e2e suite can share them; see that
module for `cluster`, `kube_api` and `namespace`; `tests.integration.operator_fixtures` adds
`crds` (the committed CRDs, installed strictly), `custom` and `operator`. Test modules here
mark themselves `pytestmark = pytest.mark.integration`; deselect them with
`pytest -m "not integration"`.
"""

from tests.cluster.fixtures import TestCluster, cluster, kube_api, namespace
from tests.integration.operator_fixtures import crds, custom, operator

__all__ = ["TestCluster", "cluster", "crds", "custom", "kube_api", "namespace", "operator"]
