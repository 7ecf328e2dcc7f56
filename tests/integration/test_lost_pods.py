"""A trial whose process is killed from outside (what a node losing it does) runs again as the
same trial: the study ends with exactly maxTrials Trials, all Succeeded, none counted failed.
"""

from __future__ import annotations

import os
import signal

import pytest
from kubernetes import client

from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    dump,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def _container_pid(cluster: TestCluster, namespace: str, trial: str) -> int | None:
    """The process group the node agent started for the trial's container, once it runs."""
    pattern = f"nodes/*/pods/{namespace}_{trial}-*/pids/train.pid"
    for path in cluster.state_dir.glob(pattern):
        text = path.read_text().strip()
        if text:
            return int(text)
    return None


def test_a_trial_whose_process_is_killed_from_outside_runs_again(
    cluster: TestCluster, operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator(leader_election=False)
    manifest = study_manifest("lost", max_trials=3, parallel=1, script_args=["--seconds", "4"])
    create_study(custom, namespace, manifest)
    pid = until(
        lambda: _container_pid(cluster, namespace, "lost-0"),
        lambda found: found is not None,
        "trial lost-0's process",
        timeout=90,
    )
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)  # the node lost it: no stop was asked for

    study = wait_for_phase(custom, namespace, "lost", timeout=180)
    trials = list_trials(custom, namespace, "lost")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == [0, 1, 2]
    for trial in trials:
        x = trial["spec"]["parameters"]["x"]
        assert trial["status"]["phase"] == "Succeeded", dump(trial)
        assert trial["status"]["values"]["loss"] == pytest.approx(x * x)
    assert trials[0]["status"]["retries"] == 1, dump(trials[0])
    assert study["status"]["trials"].get("failed", 0) == 0


def test_a_study_whose_running_trial_is_deleted_still_completes(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Today's defined outcome: the deleted Trial (and, through ownerReferences, its Job and
    pod) is forgotten, its budget slot is free again, and the study launches another trial."""
    operator(leader_election=False)
    manifest = study_manifest("deleted", max_trials=3, parallel=1, script_args=["--seconds", "4"])
    create_study(custom, namespace, manifest)
    until(
        lambda: list_trials(custom, namespace, "deleted"),
        lambda trials: bool(trials) and (trials[0].get("status") or {}).get("phase") == "Running",
        "trial deleted-0 running",
        timeout=90,
    )
    custom.delete_namespaced_custom_object(
        "kubetune.dev", "v1alpha1", namespace, "trials", "deleted-0"
    )

    study = wait_for_phase(custom, namespace, "deleted", timeout=180)
    trials = list_trials(custom, namespace, "deleted")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert len(trials) == 3, dump(trials)
    assert all(t["status"]["phase"] == "Succeeded" for t in trials), dump(trials)
