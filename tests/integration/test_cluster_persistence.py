"""Stopping a cluster keeps its objects, leaves no processes or ports, and it restarts.

Uses its own cluster (two GPU-less nodes with a MIG resource name) so the shared one is
never interrupted; this also proves two clusters run side by side without colliding.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config

from tests.cluster.controlplane import ClusterSettings, ControlPlane
from tests.cluster.processes import is_alive, port_is_free

pytestmark = pytest.mark.integration

MIG = "nvidia.com/mig-1g.10gb"


def _core(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    settings = ClusterSettings(
        state_dir=tmp_path / "cluster",
        nodes=("gpu-a", "gpu-b"),
        gpu_resource=MIG,
        gpus_per_node=2,
    )
    plane = ControlPlane(settings)
    plane.start()
    try:
        core = _core(plane.kubeconfig)
        nodes = {n.metadata.name: n.status.capacity for n in core.list_node().items}
        assert {name: capacity[MIG] for name, capacity in nodes.items()} == {
            "gpu-a": "2",
            "gpu-b": "2",
        }
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "keep-me"}, "data": {"answer": "42"}}
        )
        state = plane.read_state()
        plane.stop()

        assert not any(is_alive(pid) for pid in state.pids.values())
        assert all(port_is_free(port) for port in state.ports.values())

        plane.start()
        kept = _core(plane.kubeconfig).read_namespaced_config_map("keep-me", "default")
        assert kept.data == {"answer": "42"}
    finally:
        plane.stop()
