"""What a reconcile sees, on plain dicts: snapshots, status writes, missing Jobs, stop waits."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import NewTrial, Planner, TrialSnapshot
from kubetune.kube import observe
from kubetune.kube.objects import STOP_REQUESTED_ANNOTATION, TRIAL_LABEL, render_job
from kubetune.kube.trial_status import Observation, format_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SPEC = StudySpec.model_validate(
    {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}],
        "budget": {"maxTrials": 4, "parallelTrials": 2},
        "trialTemplate": {
            "resources": {"gpus": 2},
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["run"]}]}}},
        },
    }
)
CONTEXT = observe.TrialContext.of(SPEC, NOW)


def trial(index: int, stop: bool = False, **status: Any) -> dict[str, Any]:
    annotations = {STOP_REQUESTED_ANNOTATION: format_time(NOW - timedelta(seconds=10))}
    return {
        "metadata": {"name": f"s-{index}", "annotations": annotations if stop else {}},
        "spec": {"study": "s", "index": index, "parameters": {"x": index / 10}, "stop": stop},
        "status": status,
    }


def job(index: int, *conditions: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"s-{index}", "uid": f"job-uid-{index}"},
        "status": {
            "completionTime": "2026-01-01T11:59:50Z",
            "conditions": [{"type": c, "status": "True"} for c in conditions],
        },
    }


def pod(index: int, phase: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"s-{index}-abcde",
            "labels": {TRIAL_LABEL: f"s-{index}"},
            "creationTimestamp": "2026-01-01T11:59:00Z",
        },
        "spec": {"nodeName": "node-0"},
        "status": {"phase": phase, "startTime": "2026-01-01T11:59:00Z"},
    }


def objects(trials: list[dict[str, Any]], jobs=(), pods=()) -> observe.StudyObjects:
    return observe.StudyObjects.group(
        {t["metadata"]["name"]: t for t in trials},
        {j["metadata"]["name"]: j for j in jobs},
        {p["metadata"]["name"]: p for p in pods},
    )


def settle_all(world: observe.StudyObjects, context=CONTEXT) -> observe.TrialsObserved:
    observations = observe.observe_all(world, context)
    settled = [observe.Settled(t, o) for t, o in zip(world.trials, observations, strict=True)]
    return observe.tally(settled, world.jobs, context)


def test_pods_are_grouped_by_the_trial_label() -> None:
    world = objects([trial(0), trial(1)], pods=[pod(0, "Running"), pod(1, "Pending")])
    assert {
        name: [p["status"]["phase"] for p in pods] for name, pods in world.pods_by_trial.items()
    } == {
        "s-0": ["Running"],
        "s-1": ["Pending"],
    }


def test_a_running_trial_becomes_a_running_snapshot_and_a_status_write() -> None:
    observed = settle_all(objects([trial(0)], [job(0)], [pod(0, "Running")]))
    assert observed.snapshots[0].phase is TrialPhase.RUNNING
    assert observed.snapshots[0].params == {"x": 0.0}
    [write] = observed.writes
    assert write.patch["status"]["phase"] == "Running"
    assert observed.missing_jobs == [] and observed.wake_in == math.inf


def test_a_trial_without_a_job_needs_one_unless_it_was_asked_to_stop() -> None:
    observed = settle_all(objects([trial(0), trial(1, stop=True)]))
    assert [t["metadata"]["name"] for t in observed.missing_jobs] == ["s-0"]


def test_a_new_trial_without_job_or_pod_gets_no_status_write() -> None:
    assert settle_all(objects([trial(0)])).writes == []


def test_gpu_seconds_count_finished_trials_only() -> None:
    finished = trial(
        0,
        phase="Failed",
        reason="Error",
        startTime="2026-01-01T11:59:00Z",
        completionTime="2026-01-01T11:59:30Z",
    )
    running = trial(1, phase="Running", startTime="2026-01-01T11:00:00Z")
    observed = settle_all(objects([finished, running], [job(1)], [pod(1, "Running")]))
    assert observed.gpu_seconds == pytest.approx(2 * 30.0)


def test_reported_values_and_intermediate_steps_reach_the_snapshot() -> None:
    reported = trial(
        0,
        phase="Running",
        values={"loss": 0.25},
        intermediate=[{"step": 1, "values": {"loss": 0.5}}, {"bad": "entry"}],
    )
    snapshot = settle_all(objects([reported], [job(0)], [pod(0, "Running")])).snapshots[0]
    assert snapshot.values == {"loss": 0.25}
    assert [(p.step, p.values) for p in snapshot.intermediate] == [(1, {"loss": 0.5})]


def test_waiting_for_a_pod_is_noticed_and_a_failed_create_message_is_used() -> None:
    world = objects([trial(0)], [job(0)])
    assert observe.waits_for_pod(observe.observe_all(world, CONTEXT))
    quota = 'pods "s-0-x" is forbidden: exceeded quota: q'
    context = replace(CONTEXT, failed_creates={"job-uid-0": quota})
    [observation] = observe.observe_all(world, context)
    assert observation.message == quota and not observe.waits_for_pod([observation])


def test_only_stopping_active_trials_and_metric_verdicts_need_the_api() -> None:
    world = objects(
        [trial(0), trial(1, stop=True), trial(2, stop=True, phase="Stopped", reason="StudyEnded")],
        [job(0), job(1)],
        [pod(0, "Running"), pod(1, "Running")],
    )
    quiet, busy = observe.split(world.trials, observe.observe_all(world, CONTEXT))
    assert [s.trial["metadata"]["name"] for s in busy] == ["s-1"]
    assert [s.trial["metadata"]["name"] for s in quiet] == ["s-0", "s-2"]
    verdict = Observation(TrialPhase.SUCCEEDED, "Completed", from_metrics=True)
    assert observe.needs_api(trial(3), verdict)


def test_a_stopping_trial_gets_the_rest_of_its_grace_period() -> None:
    running = Observation(TrialPhase.RUNNING, "Running")
    assert observe.stop_wait(trial(0, stop=True), running, NOW, 30.0) == pytest.approx(20.0)
    assert observe.stop_wait(trial(0, stop=True), running, NOW, 5.0) < 0


def test_a_stopping_trial_that_never_ran_is_stopped_at_once() -> None:
    pending = Observation(TrialPhase.PENDING, "WaitingForGPU")
    assert observe.stop_wait(trial(0, stop=True), pending, NOW, 30.0) == 0.0


def test_the_earliest_stop_deadline_is_the_next_wake() -> None:
    settled = [
        observe.Settled(trial(0), Observation(TrialPhase.RUNNING, "Running"), 12.0),
        observe.Settled(trial(1), Observation(TrialPhase.RUNNING, "Running"), 3.0),
    ]
    assert observe.tally(settled, {"s-0": job(0), "s-1": job(1)}, CONTEXT).wake_in == 3.0


def test_launched_trials_join_the_snapshots_as_pending() -> None:
    before = {0: TrialSnapshot(0, {"x": 0.0}, TrialPhase.RUNNING)}
    after = observe.with_launched(before, [NewTrial(1, {"x": 0.5}, budget=3.0)])
    assert after[1] == TrialSnapshot(1, {"x": 0.5}, TrialPhase.PENDING, budget=3.0)
    assert list(before) == [0]


def test_best_values_are_the_objectives_of_the_best_trial() -> None:
    snapshots = {
        0: TrialSnapshot(0, {"x": 0.0}, TrialPhase.SUCCEEDED, {"loss": 0.5, "other": 1.0}),
        1: TrialSnapshot(1, {"x": 0.1}, TrialPhase.SUCCEEDED, {"loss": 0.2}),
    }
    summary = Planner(SPEC, "s").summarize(list(snapshots.values()))
    assert observe.best_values(SPEC, summary, snapshots) == {"loss": 0.2}
    empty = Planner(SPEC, "s").summarize([])
    assert observe.best_values(SPEC, empty, {}) == {}


@pytest.mark.parametrize(
    ("wake_in", "timeout", "elapsed", "ending", "expected"),
    [
        (math.inf, None, 0.0, False, 30.0),  # the safety net
        (4.0, None, 0.0, False, 4.0),  # a stop deadline
        (math.inf, 100, 90.0, False, 10.0 + observe.TIMEOUT_MARGIN_SECONDS),  # the timeout
        (math.inf, 100, 90.0, True, 30.0),  # already ending: the timeout no longer matters
        (math.inf, 100, 200.0, False, observe.TIMEOUT_MARGIN_SECONDS),  # timeout past
        (-3.0, None, 0.0, False, observe.MIN_LOOK_SECONDS),  # a deadline past never spins
    ],
)
def test_next_look(wake_in, timeout, elapsed, ending, expected) -> None:
    assert observe.next_look(wake_in, 30.0, timeout, elapsed, ending) == pytest.approx(expected)


def test_a_recorded_verdict_is_read_back_not_recomputed() -> None:
    # What the operator wrote when the trial finished: the status is final, nothing to write,
    # and its GPU-seconds are taken as written (a big study is mostly such trials).
    recorded = trial(
        0,
        phase="Succeeded",
        reason="Completed",
        values={"loss": 0.5},
        startTime="2026-01-01T11:59:00Z",
        completionTime="2026-01-01T11:59:30Z",
        gpuSeconds=60.0,
    )
    written_by_an_older_operator = {**recorded, "metadata": {"name": "s-1"}}
    written_by_an_older_operator["spec"] = {**recorded["spec"], "index": 1}
    written_by_an_older_operator["status"] = {
        k: v for k, v in recorded["status"].items() if k != "gpuSeconds"
    }

    observed = settle_all(objects([recorded, written_by_an_older_operator], [job(0, "Complete")]))

    assert [w.trial["metadata"]["name"] for w in observed.writes] == ["s-1"]  # completed once
    assert observed.gpu_seconds == pytest.approx(2 * 60.0)
    assert observed.snapshots[0].values == {"loss": 0.5}
    assert observed.snapshots[0].phase is TrialPhase.SUCCEEDED


def test_without_a_reader_of_curves_a_snapshot_keeps_only_the_last_point() -> None:
    curve = [{"step": s, "values": {"loss": 1 / s}} for s in range(1, 101)]
    running = trial(0, phase="Running", intermediate=curve)
    world = objects([running], [job(0)], [pod(0, "Running")])

    whole = settle_all(world).snapshots[0].intermediate
    last = settle_all(world, replace(CONTEXT, curves=False)).snapshots[0].intermediate

    assert len(whole) == 100
    assert [(p.step, p.values) for p in last] == [(100, {"loss": 0.01})]


@pytest.mark.parametrize(
    ("algorithm", "rule", "reads"),
    [("random", None, False), ("asha", None, True), ("random", "median", True)],
)
def test_the_planner_says_whether_it_reads_intermediate_values(algorithm, rule, reads) -> None:
    body = SPEC.model_dump(by_alias=True, exclude_none=True)
    body["algorithm"] = {"name": algorithm}
    if algorithm == "asha":
        body["budget"]["resource"] = {"name": "epochs", "min": 1, "max": 27}
    if rule is not None:
        body["earlyStopping"] = {"rule": rule}
    assert Planner(StudySpec.model_validate(body), "s").reads_intermediate is reads


def test_a_recorded_trials_snapshot_is_built_once_per_version() -> None:
    def recorded(index: int, version: str, loss: float) -> dict[str, Any]:
        t = trial(index, phase="Succeeded", values={"loss": loss}, gpuSeconds=1.0)
        t["metadata"]["resourceVersion"] = version
        return t

    memo = observe.RecordedSnapshots()
    context = replace(CONTEXT, curves=False)

    def snapshots(*trials: dict[str, Any]) -> dict[int, TrialSnapshot]:
        world = objects(list(trials), [job(t["spec"]["index"], "Complete") for t in trials])
        observations = observe.observe_all(world, context)
        settled = [observe.Settled(t, o) for t, o in zip(world.trials, observations, strict=True)]
        return observe.tally(settled, world.jobs, context, memo).snapshots

    first = snapshots(recorded(0, "5", 0.5), recorded(1, "6", 0.4))
    again = snapshots(recorded(0, "5", 0.5), recorded(1, "7", 0.3))

    assert again[0] is first[0]  # same version: the same snapshot
    assert again[1].values == {"loss": 0.3}  # a new version is read afresh
    assert snapshots(recorded(1, "7", 0.3))[1] is again[1]
    assert len(memo._held) == 1  # trial 0 is gone: forgotten


# -- Jobs without a Trial --------------------------------------------------------------------------


def _rendered_job(index: int) -> dict[str, Any]:
    rendered = trial(index)
    rendered["metadata"]["namespace"] = "ns"
    return render_job(SPEC, rendered, "study-uid")


def test_a_job_without_a_trial_is_adopted_at_or_past_the_next_index_else_deleted() -> None:
    """Past every index given, its Trial was never created (adopted, lowest index first);
    below, its Trial was deleted (its Job goes). A Job with its Trial is neither."""
    jobs = {f"s-{i}": _rendered_job(i) for i in (0, 1, 2, 4, 3)}
    trials = {"s-0": trial(0)}

    strays = observe.stray_jobs(trials, jobs, next_index=3)

    assert [identity["index"] for identity in strays.adopt] == [3, 4]
    assert strays.adopt[0]["parameters"] == {"x": 0.3}
    assert strays.collect == ["s-1", "s-2"]


def test_an_older_operators_job_and_a_job_being_deleted_are_left_to_the_garbage_collector() -> None:
    older = _rendered_job(1)
    del older["metadata"]["annotations"]  # owned by its Trial: collected with it
    going = _rendered_job(2)
    going["metadata"]["deletionTimestamp"] = "2026-01-01T12:00:00Z"

    strays = observe.stray_jobs({}, {"s-1": older, "s-2": going}, next_index=0)

    assert strays.adopt == [] and strays.collect == []


def test_only_an_active_trials_job_with_other_parameters_is_wrong() -> None:
    ours = [trial(0), trial(1), trial(2, phase="Succeeded")]
    theirs = {f"s-{i}": _rendered_job(i) for i in range(3)}
    for t in ours[1:]:
        t["spec"]["parameters"] = {"x": 0.9}  # another suggestion than the Job's
    world = objects(ours, theirs.values())

    wrong = observe.wrong_jobs(world)

    assert wrong == ["s-1"]  # s-2 is finished: its verdict stands
