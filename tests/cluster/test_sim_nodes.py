"""The simulated nodes' pure parts: which pods they start, and the status they report."""

from __future__ import annotations

import datetime

from tests.cluster.sim_nodes import SimulatedNodes, needs_running, node_status, running_status

NOW = datetime.datetime(2026, 1, 1, 12, tzinfo=datetime.UTC)


def pod(phase: str | None = None, deleting: bool = False) -> dict:
    metadata = {"name": "p", "namespace": "ns", "uid": "u1"}
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T12:00:00Z"
    return {
        "metadata": metadata,
        "spec": {"nodeName": "sim-0", "containers": [{"name": "train", "image": "t:1"}]},
        "status": {"phase": phase} if phase else {},
    }


def test_only_bound_pods_not_yet_running_or_leaving_are_started() -> None:
    assert needs_running(pod()) and needs_running(pod("Pending"))
    assert not needs_running(pod("Running"))
    assert not needs_running(pod("Succeeded"))
    assert not needs_running(pod("Pending", deleting=True))


def test_the_running_status_is_what_a_kubelet_reports_once_containers_start() -> None:
    status = running_status(pod("Pending"), NOW)
    assert status["phase"] == "Running"
    assert {c["type"] for c in status["conditions"]} == {"Initialized", "ContainersReady", "Ready"}
    (container,) = status["containerStatuses"]
    assert container["name"] == "train" and container["ready"]
    assert container["state"] == {"running": {"startedAt": "2026-01-01T12:00:00Z"}}


def test_nodes_advertise_the_fractional_gpu_resource() -> None:
    nodes = SimulatedNodes(count=3, gpu_resource="nvidia.com/gpu.shared", gpus=64)
    assert nodes.names() == ["sim-0", "sim-1", "sim-2"]
    status = node_status(nodes, "sim-0", NOW)
    assert status["allocatable"]["nvidia.com/gpu.shared"] == "64"
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in status["conditions"])
