"""pytest fixtures that give a test a real cluster, an API client and a fresh namespace.

Import them into a conftest (`from tests.cluster.fixtures import cluster, kube_api, namespace`):

- `cluster` (session): starts a control plane and node agent in a temporary state dir once
  per test session and stops it at the end, or reuses a running cluster whose admin
  kubeconfig is named by `KUBETUNE_TEST_KUBECONFIG` (e.g. `.cluster/kubeconfig` after
  `make cluster`, which makes reruns start instantly).
- `kube_api` (session): a `kubernetes.client.ApiClient` authenticated as cluster admin.
- `namespace`: a namespace for one test, whose default ServiceAccount exists, deleted after.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.cluster.controlplane import ClusterSettings, ControlPlane
from tests.cluster.wait import until

__all__ = ["TestCluster", "cluster", "kube_api", "namespace"]

KUBECONFIG_ENV = "KUBETUNE_TEST_KUBECONFIG"


@dataclass(frozen=True)
class TestCluster:
    """A running cluster as tests see it."""

    __test__ = False  # not a test class, despite the name

    kubeconfig: Path
    """Admin kubeconfig (system:masters)."""
    state_dir: Path
    """The cluster's state directory; pod directories live under `nodes/`."""

    def container_log(self, namespace: str, pod: str, container: str) -> Path:
        """Where the node agent writes a container's stdout and stderr.

        The file may not exist yet; `tests.cluster.wait.file_text` waits for content.
        """
        pattern = f"nodes/*/pods/{namespace}_{pod}_*/logs/{container}.log"
        matches = sorted(self.state_dir.glob(pattern), key=lambda p: p.stat().st_mtime)
        return matches[-1] if matches else self.state_dir / "nodes" / "unscheduled" / pattern


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCluster]:
    external = os.environ.get(KUBECONFIG_ENV)
    if external:
        kubeconfig = Path(external).resolve()
        yield TestCluster(kubeconfig=kubeconfig, state_dir=kubeconfig.parent)
        return
    plane = ControlPlane(ClusterSettings(state_dir=tmp_path_factory.mktemp("cluster")))
    seconds = plane.start()
    print(f"\ntest cluster started in {seconds:.1f}s ({plane.state_dir})")
    try:
        yield TestCluster(kubeconfig=plane.kubeconfig, state_dir=plane.state_dir)
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: TestCluster) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(cluster.kubeconfig)
    )
    try:
        client.VersionApi(api).get_code()
    except Exception as error:  # say which cluster, not just "connection refused"
        pytest.fail(
            f"the cluster of {cluster.kubeconfig} does not answer ({error}); "
            f"start it with `make cluster` or unset {KUBECONFIG_ENV}"
        )
    return api


@pytest.fixture
def namespace(kube_api: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{slug}-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    started = time.monotonic()
    until(
        lambda: core.list_namespaced_service_account(name, field_selector="metadata.name=default"),
        lambda accounts: bool(accounts.items),
        f"default ServiceAccount in {name} ({time.monotonic() - started:.1f}s)",
        timeout=30,
    )
    yield name
    core.delete_namespace(name)
