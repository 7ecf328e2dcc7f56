"""The control plane fails under a running study: kube-apiserver restarted, etcd restarted,
the API server paused (SIGSTOP) while several runners report. The operator is never touched:
it must recover by itself, and nothing may be lost (`ground_truth.assert_nothing_lost`).

Each fault waits for progress first (a condition, never a fixed sleep), so it hits a study
with trials running, some finished and more to launch.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.chaos.ground_truth import assert_nothing_lost, progress, recorded_study, running
from tests.cluster.controlplane import ClusterSettings, ControlPlane
from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import create_study
from tests.integration.test_cluster_outage import _apiserver_pid

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_TRIALS = 16
PARALLEL = 4
TRIAL_SECONDS = 2.0
PAUSE_SECONDS = 20
"""Longer than the runner's request timeout (10 s): reports fail, not just wait."""


def _plane(cluster: TestCluster) -> ControlPlane:
    return ControlPlane(ClusterSettings(state_dir=cluster.state_dir))


def _some_finished_and_some_running(custom: client.CustomObjectsApi, namespace: str) -> None:
    until(
        lambda: (progress(custom, namespace, "faults"), running(custom, namespace, "faults")),
        lambda seen: seen[0][2] >= 2 and len(seen[1]) >= 2,
        "two trials finished and two running",
        timeout=120,
    )


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_a_control_plane_restart_mid_study_loses_nothing(
    cluster: TestCluster,
    operator,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
    component: str,
) -> None:
    handle = operator(leader_election=False)
    truth = tmp_path / "truth"
    manifest = recorded_study(
        "faults", truth, max_trials=MAX_TRIALS, parallel=PARALLEL, seconds=TRIAL_SECONDS
    )
    create_study(custom, namespace, manifest)
    _some_finished_and_some_running(custom, namespace)

    seconds = _plane(cluster).restart(component)
    print(f"{component} restarted in {seconds:.1f}s")

    assert_nothing_lost(custom, namespace, "faults", truth, MAX_TRIALS)
    assert handle.starts == 1 and handle.process is not None and handle.process.poll() is None


def test_runners_reporting_while_the_api_server_is_paused_lose_nothing(
    cluster: TestCluster,
    operator,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    handle = operator(leader_election=False)
    truth = tmp_path / "truth"
    manifest = recorded_study(
        "faults", truth, max_trials=MAX_TRIALS, parallel=PARALLEL, seconds=TRIAL_SECONDS * 2
    )
    create_study(custom, namespace, manifest)
    _some_finished_and_some_running(custom, namespace)

    apiserver = _apiserver_pid(cluster)
    reports_before = sum(len(p.read_text().split()) for p in truth.glob("*.reported"))
    os.kill(apiserver, signal.SIGSTOP)
    try:
        time.sleep(PAUSE_SECONDS)  # the fault's length, not a synchronization
    finally:
        os.kill(apiserver, signal.SIGCONT)
    reports_during = sum(len(p.read_text().split()) for p in truth.glob("*.reported"))

    assert reports_during > reports_before, "no runner reported while the API was paused"
    assert_nothing_lost(custom, namespace, "faults", truth, MAX_TRIALS)
    assert handle.starts == 1 and handle.process is not None and handle.process.poll() is None
