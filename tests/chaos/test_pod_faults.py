"""Faults under the trials' pods: the node agent crashes (SIGKILL) and starts again, a
user deletes a running Trial's Job, and the operator dies between counting a lost pod and
deleting its Job. All are lost pods by the pod-loss policy
(docs/reliability.md): the trial runs again as the same trial, counted in `status.retries`,
never as a failure, and the study ends with exactly maxTrials Trials.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from kubernetes import client

from tests.chaos.ground_truth import assert_nothing_lost, recorded_study, running, runs_of
from tests.cluster.controlplane import ClusterSettings, ControlPlane
from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import create_study

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_TRIALS = 8
PARALLEL = 3
TRIAL_SECONDS = 6.0
"""Long enough that a trial seen running is still running when the fault lands."""


def _running_programs(custom: client.CustomObjectsApi, namespace: str, truth: Path) -> list[str]:
    """Running Trials whose program has started (its start line is in the side file)."""
    return [t for t in running(custom, namespace, "pods") if runs_of(truth, t) >= 1]


def test_a_node_agent_crash_reruns_its_pods_as_the_same_trials(
    cluster: TestCluster,
    operator,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    handle = operator(leader_election=False)
    truth = tmp_path / "truth"
    manifest = recorded_study(
        "pods", truth, max_trials=MAX_TRIALS, parallel=PARALLEL, seconds=TRIAL_SECONDS
    )
    create_study(custom, namespace, manifest)
    until(
        lambda: _running_programs(custom, namespace, truth),
        lambda names: len(names) >= 2,
        "two trial programs running",
        timeout=120,
    )

    ControlPlane(ClusterSettings(state_dir=cluster.state_dir)).restart("node-agent", crash=True)

    trials = assert_nothing_lost(custom, namespace, "pods", truth, MAX_TRIALS)
    retried = [t["metadata"]["name"] for t in trials if t["status"].get("retries")]
    assert retried, "no pod was lost: the crash hit no running trial"
    assert handle.starts == 1 and handle.process is not None and handle.process.poll() is None


def test_a_running_trials_deleted_job_reruns_the_same_trial(
    operator,
    kube_api: client.ApiClient,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    operator(leader_election=False)
    truth = tmp_path / "truth"
    manifest = recorded_study("pods", truth, max_trials=4, parallel=2, seconds=TRIAL_SECONDS)
    create_study(custom, namespace, manifest)
    names = until(
        lambda: _running_programs(custom, namespace, truth),
        bool,
        "a trial program running",
        timeout=120,
    )
    victim = names[0]
    client.BatchV1Api(kube_api).delete_namespaced_job(
        victim,
        namespace,
        propagation_policy="Background",  # what `kubectl delete job` does
    )

    trials = assert_nothing_lost(custom, namespace, "pods", truth, 4)
    (deleted,) = [t for t in trials if t["metadata"]["name"] == victim]
    assert deleted["status"]["retries"] == 1
    assert runs_of(truth, victim) == 2


def _container_pid(cluster: TestCluster, namespace: str, trial: str) -> int | None:
    """The process group the node agent started for the trial's container, once it runs."""
    for path in cluster.state_dir.glob(f"nodes/*/pods/{namespace}_{trial}-*/pids/*.pid"):
        text = path.read_text().strip()
        if text:
            return int(text)
    return None


def test_an_operator_killed_between_counting_a_loss_and_deleting_the_job_counts_it_once(
    cluster: TestCluster,
    operator,
    kube_api: client.ApiClient,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    """The operator counts a lost pod in the Trial's status (retries, the Job's uid), then
    deletes the Job. The state a SIGKILL between the two leaves is built on the real control
    plane: operator killed, the trial's process killed (its Job fails), the count written as
    the operator writes it. The operator started on that deletes the Job and reruns the trial
    without counting the loss again: runs == 1 + retries holds (before: retries 2, 2 runs)."""
    handle = operator(leader_election=False)
    truth = tmp_path / "truth"
    manifest = recorded_study("pods", truth, max_trials=3, parallel=1, seconds=TRIAL_SECONDS)
    create_study(custom, namespace, manifest)
    until(lambda: runs_of(truth, "pods-0"), bool, "trial pods-0's program running", timeout=120)
    handle.kill()
    pid = _container_pid(cluster, namespace, "pods-0")
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # its node lost it
    batch = client.BatchV1Api(kube_api)
    job = until(
        lambda: batch.read_namespaced_job("pods-0", namespace),
        lambda j: any(c.type == "Failed" and c.status == "True" for c in j.status.conditions or []),
        "the lost pod's Job failed",
        timeout=60,
    )
    counted = {
        "phase": "Pending",
        "reason": "PodLost",
        "message": "its pod was lost: running the trial again, retry 1 of 2",
        "retries": 1,
        "lostJob": job.metadata.uid,
    }
    custom.patch_namespaced_custom_object_status(
        "kubetune.dev", "v1alpha1", namespace, "trials", "pods-0", {"status": counted}
    )

    handle.start()

    trials = assert_nothing_lost(custom, namespace, "pods", truth, 3)
    assert trials[0]["status"]["retries"] == 1, trials[0]["status"]
    assert runs_of(truth, "pods-0") == 2
