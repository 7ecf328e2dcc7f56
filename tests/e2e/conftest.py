"""e2e tests share the integration suite's real control plane (`tests.cluster.fixtures`).

Modules here mark themselves `pytestmark = [pytest.mark.integration, pytest.mark.slow]`.
"""

from tests.cluster.fixtures import TestCluster, cluster, kube_api, namespace

__all__ = ["TestCluster", "cluster", "kube_api", "namespace"]
