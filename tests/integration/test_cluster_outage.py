"""The node agent outlives an API outage: a pod that ends meanwhile is reported once it answers.

Chaos tests are only honest if the harness itself does not lose pods: before the node agent
retried its status updates, a PATCH that timed out while the API server was paused left the
pod `Running` with no process for good, and the study above it hung.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import pod_phase

pytestmark = pytest.mark.integration

PAUSE_SECONDS = 35
"""Longer than the node agent's request timeout (30 s), so its status PATCH fails."""


def _apiserver_pid(cluster: TestCluster) -> int:
    return int(json.loads((cluster.state_dir / "state.json").read_text())["pids"]["kube-apiserver"])


def test_a_pod_that_ends_while_the_api_is_paused_is_reported_after(
    cluster: TestCluster, kube_api: client.ApiClient, namespace: str, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    script = (
        "import pathlib, time\n"
        f"while not pathlib.Path({str(go)!r}).exists():\n"
        "    time.sleep(0.05)\n"
    )
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "outlives"},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "containers": [
                    {"name": "main", "image": "ignored", "command": [sys.executable, "-c", script]}
                ],
            },
        },
    )
    pod_phase(core, namespace, "outlives", ["Running"])

    apiserver = _apiserver_pid(cluster)
    os.kill(apiserver, signal.SIGSTOP)
    try:
        go.write_text("end now")  # the program exits while the API cannot take its status
        time.sleep(PAUSE_SECONDS)  # the fault's length, not a synchronization
    finally:
        os.kill(apiserver, signal.SIGCONT)

    pod = pod_phase(core, namespace, "outlives", ["Succeeded", "Failed"], timeout=60)
    assert pod.status.phase == "Succeeded"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
