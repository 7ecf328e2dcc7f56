"""The scheduler honours the node agent's GPU capacity: no free GPU, no pod."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import pod_phase, until

pytestmark = pytest.mark.integration

GPU = "nvidia.com/gpu"


def _gpu_pod(name: str, gpus: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "ignored.example/cuda",
                    "command": ["sleep", "600"],
                    "resources": {"limits": {GPU: str(gpus)}},
                }
            ],
        },
    }


def _scheduled_condition(pod: client.V1Pod) -> client.V1PodCondition | None:
    return next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)


def test_pod_waits_for_free_gpus_then_runs(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(namespace, _gpu_pod("holder", 3))
    pod_phase(core, namespace, "holder", ["Running"])

    core.create_namespaced_pod(namespace, _gpu_pod("waiter", 2))
    waiting = until(
        lambda: core.read_namespaced_pod("waiter", namespace),
        lambda pod: _scheduled_condition(pod) is not None,
        "the scheduler to decide on the waiter",
    )
    condition = _scheduled_condition(waiting)
    assert (condition.status, condition.reason) == ("False", "Unschedulable")
    assert GPU in condition.message
    assert waiting.status.phase == "Pending"

    core.delete_namespaced_pod("holder", namespace)

    running = pod_phase(core, namespace, "waiter", ["Running"])
    assert running.spec.node_name
