"""Chaos tests: faults injected into the real control plane, invariants checked against ground
truth. They share the integration suite's cluster and operator fixtures, and are marked both
`chaos` and `integration` so unit runs (`-m "not integration"`) leave them out. Run them
serialized with the other integration tests (they share one control plane):

    flock /tmp/kubetune-integration.lock pytest -q -m chaos tests/chaos
"""

from tests.cluster.fixtures import TestCluster, cluster, kube_api, namespace
from tests.integration.operator_fixtures import crds, custom, operator

__all__ = ["TestCluster", "cluster", "crds", "custom", "kube_api", "namespace", "operator"]
