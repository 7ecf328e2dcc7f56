"""A trial whose process is killed from outside (what a node losing it does) runs again as the
same trial: the study ends with exactly maxTrials Trials, all Succeeded, none counted failed.
A Trial deleted by hand is forgotten but its index is not: a Warning names it, and a running
study runs another trial at a new index in its place.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from kubernetes import client

from kubetune.api.study import StudySpec
from kubetune.kube import objects
from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    dump,
    get_study,
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


def _delete_trial(custom: client.CustomObjectsApi, namespace: str, name: str) -> None:
    """`kubectl delete trial NAME` (background propagation: its Job goes through GC)."""
    custom.delete_namespaced_custom_object("kubetune.dev", "v1alpha1", namespace, "trials", name)


def _deleted_events(kube_api: client.ApiClient, namespace: str) -> list[str]:
    events = client.CoreV1Api(kube_api).list_namespaced_event(
        namespace, field_selector="reason=TrialDeleted"
    )
    return [e.message for e in events.items if e.type == "Warning"]


def _trial_phase(trials: list[dict[str, Any]], index: int) -> str | None:
    found = [t for t in trials if t["spec"]["index"] == index]
    return (found[0].get("status") or {}).get("phase") if found else None


def test_a_deleted_running_trial_is_replaced_at_a_new_index_and_announced(
    operator, kube_api: client.ApiClient, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """The running trial 0 is the study's highest index when it is deleted: the index the old
    operator gave again. Now: a Warning names it, its Job goes with it (garbage collector),
    the study still delivers maxTrials trials, at indices 1..3, with three distinct points."""
    operator(leader_election=False)
    manifest = study_manifest("deleted", max_trials=3, parallel=1, script_args=["--seconds", "4"])
    create_study(custom, namespace, manifest)
    until(
        lambda: list_trials(custom, namespace, "deleted"),
        lambda trials: _trial_phase(trials, 0) == "Running",
        "trial deleted-0 running",
        timeout=90,
    )
    _delete_trial(custom, namespace, "deleted-0")

    study = wait_for_phase(custom, namespace, "deleted", timeout=180)
    trials = list_trials(custom, namespace, "deleted")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == [1, 2, 3], dump(trials)
    assert all(t["status"]["phase"] == "Succeeded" for t in trials), dump(trials)
    points = [t["spec"]["parameters"]["x"] for t in trials]
    assert len(set(points)) == 3, points
    status = study["status"]
    assert (status["nextTrialIndex"], status["deletedTrials"], status["deletedTrialIndices"]) == (
        4,
        1,
        [0],
    ), dump(status)
    (message,) = _deleted_events(kube_api, namespace)
    assert message.startswith("trial deleted-0 was deleted: the index is never given again")
    until(
        lambda: client.BatchV1Api(kube_api).list_namespaced_job(namespace).items,
        lambda jobs: "deleted-0" not in {j.metadata.name for j in jobs},
        "the deleted Trial's Job collected",
        timeout=60,
    )


def test_a_deleted_finished_trial_is_replaced_while_the_study_runs_and_not_after(
    operator, kube_api: client.ApiClient, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """Deleting a finished trial removes its result: a running study runs another trial in
    its place; an ended study stays ended with one trial fewer."""
    operator(leader_election=False)
    manifest = study_manifest("done", max_trials=3, parallel=1, script_args=["--seconds", "2"])
    create_study(custom, namespace, manifest)
    until(
        lambda: list_trials(custom, namespace, "done"),
        lambda trials: _trial_phase(trials, 0) == "Succeeded",
        "trial done-0 succeeded",
        timeout=90,
    )
    _delete_trial(custom, namespace, "done-0")
    study = wait_for_phase(custom, namespace, "done", timeout=180)
    trials = list_trials(custom, namespace, "done")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == [1, 2, 3], dump(trials)
    assert len({t["spec"]["parameters"]["x"] for t in trials}) == 3, dump(trials)

    _delete_trial(custom, namespace, "done-2")  # the study has ended
    study = until(
        lambda: get_study(custom, namespace, "done"),
        lambda s: s["status"].get("deletedTrials") == 2,
        "the second deletion recorded",
        timeout=60,
    )
    trials = list_trials(custom, namespace, "done")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == [1, 3], dump(trials)
    assert study["status"]["deletedTrialIndices"] == [0, 2]
    first, second = sorted(_deleted_events(kube_api, namespace), key=lambda m: "ended" in m)
    assert first.startswith("trial done-0 was deleted") and "new trial" in first
    assert second.startswith("trial done-2 was deleted") and "stays ended" in second


def test_a_job_whose_trial_was_never_created_gets_its_trial_and_keeps_running(
    operator, kube_api: client.ApiClient, custom: client.CustomObjectsApi, namespace: str
) -> None:
    """What an operator killed between a launch's two creates leaves (the Job landed, its
    Trial did not), built by hand before the operator starts: the operator creates the Trial
    from the Job's annotation, with the Job's parameters, and keeps the Job (same uid), so
    the program already started is the trial's; the study goes on past it."""
    manifest = study_manifest("stray", max_trials=2, parallel=1, script_args=["--seconds", "1"])
    create_study(custom, namespace, manifest)
    study = get_study(custom, namespace, "stray")
    spec = StudySpec.model_validate(manifest["spec"])
    trial = objects.render_trial("stray", namespace, study["metadata"]["uid"], 0, {"x": 1.5}, None)
    batch = client.BatchV1Api(kube_api)
    job = batch.create_namespaced_job(
        namespace, objects.render_job(spec, trial, study["metadata"]["uid"])
    )

    operator(leader_election=False)
    study = wait_for_phase(custom, namespace, "stray", timeout=180)

    trials = list_trials(custom, namespace, "stray")
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == [0, 1], dump(trials)
    assert trials[0]["spec"]["parameters"] == {"x": 1.5}
    assert trials[0]["status"]["values"]["loss"] == pytest.approx(2.25)
    assert batch.read_namespaced_job("stray-0", namespace).metadata.uid == job.metadata.uid
    assert study["status"].get("deletedTrials") is None
