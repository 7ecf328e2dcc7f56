"""A Trial deleted by hand, and a lost pod's count under a kill: one reconcile against the
in-memory API of test_reconciler.

The outcome a user gets (docs/operator.md, "A deleted Trial"): the index is never given
again — not even by an operator restarted on the study — a ``TrialDeleted`` Warning names
the trial, a running study launches a trial at a new index in its place, and an ended study
stays ended. A lost pod is counted in the Trial's status (with its Job's uid) before the Job
is deleted, so an operator killed in between counts it once. And, found on the way by the
operator-kill chaos test, a study is written finished only once its trials' statuses are.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import pytest

from kubetune.api.conditions import Condition, ConditionStatus, ConditionType
from kubetune.api.events import EventReason
from kubetune.api.study import MAX_DELETED_LISTED, StudyPhase, StudyStatus
from kubetune.api.trial import TrialPhase
from kubetune.engine import Outcome, TrialSnapshot
from kubetune.kube import study_status
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.objects import TRIAL_LABEL
from kubetune.kube.reconciler import Reconciler
from kubetune.kube.settings import OperatorSettings
from tests.unit.kube.test_reconciler import KEY, NOW, STUDY, STUDY_PATH, FakeKube

TRIALS = "/apis/kubetune.dev/v1alpha1/namespaces/ns/trials"
JOBS = "/apis/batch/v1/namespaces/ns/jobs"
FAILED_CONDITION = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
"""What the Job controller says once the Job's only pod failed (``backoffLimit`` 0)."""


class Inline(Executor):
    """Runs each task at once, so the Events a reconcile posts are there when it returns."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class World:
    """The fake API, the operator's cache, and operators started on them."""

    def __init__(self, kube: FakeKube, cache: ObjectCache, pool: Executor) -> None:
        self.kube, self.cache, self.pool = kube, cache, pool

    def operator(self) -> Reconciler:
        """A freshly started operator: nothing in memory, the cache as the watches hold it."""
        return Reconciler(
            self.kube,  # type: ignore[arg-type]
            self.cache,
            OperatorSettings(),
            self.pool,
            EventRecorder(self.kube, Inline()),  # type: ignore[arg-type]
            JobEvents(self.kube, 10.0),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )

    def status(self) -> dict[str, Any]:
        return self.kube.objects[STUDY_PATH]["status"]

    def trial(self, name: str) -> dict[str, Any]:
        return self.kube.objects[f"{TRIALS}/{name}"]

    def trial_names(self) -> list[str]:
        return sorted(self.cache.get(Kind.TRIAL, KEY), key=lambda n: int(n.rsplit("-", 1)[1]))

    def delete_trial(self, name: str) -> None:
        """`kubectl delete trial`: the Trial goes; its Job, owned by the study, stays."""
        self.kube.objects.pop(f"{TRIALS}/{name}")
        self.cache.forget(Kind.TRIAL, KEY, name)

    def job(self, name: str) -> dict[str, Any] | None:
        return self.kube.objects.get(f"{JOBS}/{name}")

    def set_trial_status(self, name: str, **status: Any) -> None:
        trial = self.trial(name)
        trial["status"] = {**(trial.get("status") or {}), **status}
        self.kube._stamp(trial)
        self.cache.apply(Kind.TRIAL, None, copy.deepcopy(trial))

    def finish(self, name: str, loss: float) -> None:
        """A trial whose verdict is recorded (Succeeded, its value written)."""
        self.set_trial_status(
            name, phase="Succeeded", reason="Completed", values={"loss": loss}, gpuSeconds=0.0
        )

    def lose_pod(self, name: str) -> None:
        """The trial's pod killed from outside (exit 137), as its node losing it would."""
        self.set_trial_status(name, phase="Running", startTime="2026-01-01T11:00:00Z")
        job = self.kube.objects[f"{JOBS}/{name}"]
        job["status"] = {"conditions": [FAILED_CONDITION]}
        self.kube._stamp(job)
        self.cache.apply(Kind.JOB, None, copy.deepcopy(job))
        job_uid = job["metadata"]["uid"]
        pod = {
            "metadata": {
                "name": f"{name}-pod",
                "namespace": "ns",
                "resourceVersion": "1",
                "labels": {"kubetune.dev/study": "s", TRIAL_LABEL: name},
                "ownerReferences": [{"kind": "Job", "uid": job_uid}],
                "creationTimestamp": "2026-01-01T11:00:00Z",
            },
            "spec": {"nodeName": "node-0"},
            "status": {
                "phase": "Failed",
                "containerStatuses": [
                    {
                        "state": {
                            "terminated": {
                                "exitCode": 137,
                                "reason": "Error",
                                "startedAt": "2026-01-01T11:00:00Z",
                                "finishedAt": "2026-01-01T11:30:00Z",
                            }
                        }
                    }
                ],
            },
        }
        self.cache.apply(Kind.POD, None, pod)

    def events(self, reason: EventReason) -> list[str]:
        return [
            o["message"]
            for path, o in self.kube.objects.items()
            if path.endswith(tuple("0123456789")) and o.get("reason") == reason
        ]


@pytest.fixture
def world() -> Iterator[World]:
    kube = FakeKube()
    kube.objects[STUDY_PATH] = {**STUDY, "metadata": dict(STUDY["metadata"])}
    cache = ObjectCache()
    cache.apply(
        Kind.STUDY, None, {**STUDY, "metadata": {**STUDY["metadata"], "resourceVersion": "1"}}
    )
    with ThreadPoolExecutor(4) as pool:
        yield World(kube, cache, pool)


# -- a deleted Trial ----------------------------------------------------------------------------


def test_the_index_of_a_deleted_running_trial_is_never_given_again(world: World) -> None:
    world.operator().reconcile(KEY)  # trials 0 and 1 run
    world.delete_trial("s-1")  # the highest index: the next one the old code gave out

    operator = world.operator()  # a restarted operator, as the hardest case
    operator.reconcile(KEY)  # launches trial 2; successors first: its writes wait
    operator.reconcile(KEY)  # nothing to launch: the status is written

    assert world.trial_names() == ["s-0", "s-2"]
    status = world.status()
    assert (status["nextTrialIndex"], status["deletedTrials"], status["deletedTrialIndices"]) == (
        3,
        1,
        [1],
    )
    assert world.trial("s-2")["spec"]["parameters"] != {}  # a new point at a new index


def test_a_deleted_trials_job_is_deleted_by_the_operator(world: World) -> None:
    """Jobs are owned by their study (created with their Trial, whose uid is not known yet),
    so the garbage collector does not follow a Trial's deletion: the operator does, for a
    running and for a finished trial alike."""
    operator = world.operator()
    operator.reconcile(KEY)
    world.finish("s-1", 0.5)
    world.delete_trial("s-0")
    world.delete_trial("s-1")
    world.kube.calls.clear()

    operator.reconcile(KEY)

    assert ("DELETE", f"{JOBS}/s-0") in world.kube.calls
    assert ("DELETE", f"{JOBS}/s-1") in world.kube.calls
    assert world.job("s-0") is None and world.job("s-1") is None
    assert world.kube.posted("trials") == [TRIALS, TRIALS]  # s-2 and s-3, none made again
    assert world.trial_names() == ["s-2", "s-3"]


def test_an_operator_killed_between_the_job_and_its_trial_creates_the_trial_from_the_job(
    world: World,
) -> None:
    """The Job of a launch landed, its Trial did not (killed, or the create failed): the
    operator started on it creates that Trial with the Job's parameters before deciding
    anything, so the program already running is the trial's, and no index is skipped."""
    world.operator().reconcile(KEY)
    job = world.job("s-1")
    assert job is not None
    world.delete_trial("s-1")  # never created: the study's status does not count it yet
    study = world.kube.objects[STUDY_PATH]
    study.pop("status", None)
    world.cache.apply(Kind.STUDY, None, copy.deepcopy(world.kube._stamp(study)))
    world.kube.calls.clear()

    restarted = world.operator()
    restarted.reconcile(KEY)
    restarted.reconcile(KEY)

    assert ("POST", JOBS) not in world.kube.calls  # the running Job is kept
    assert world.job("s-1") is job
    assert world.trial_names() == ["s-0", "s-1"]
    assert (
        world.trial("s-1")["spec"]["parameters"]
        == json.loads(job["metadata"]["annotations"]["kubetune.dev/trial-spec"])["parameters"]
    )
    assert world.status()["nextTrialIndex"] == 2
    assert world.status().get("deletedTrials") is None
    assert world.events(EventReason.TRIAL_DELETED) == []


def test_a_job_evaluating_other_parameters_than_its_trial_is_made_again(world: World) -> None:
    """Two operators that both thought they led each create index 1 with their own
    suggestion, one's Trial and the other's Job landing: the Job is deleted and made again
    from the Trial, which is the truth."""
    world.operator().reconcile(KEY)
    trial = world.trial("s-1")
    trial["spec"]["parameters"] = {"x": 0.123}
    world.cache.apply(Kind.TRIAL, None, copy.deepcopy(world.kube._stamp(trial)))

    operator = world.operator()
    operator.reconcile(KEY)

    job = world.job("s-1")
    assert job is not None
    annotation = job["metadata"]["annotations"]["kubetune.dev/trial-spec"]
    assert json.loads(annotation)["parameters"] == {"x": 0.123}
    assert world.kube.calls.count(("DELETE", f"{JOBS}/s-1")) == 1
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "KUBETUNE_PARAMS", "value": '{"x": 0.123}'} in env


def test_a_deleted_trial_is_announced_once_naming_it_and_what_follows(world: World) -> None:
    operator = world.operator()
    operator.reconcile(KEY)
    world.delete_trial("s-0")
    operator.reconcile(KEY)
    operator.reconcile(KEY)

    (message,) = world.events(EventReason.TRIAL_DELETED)
    assert message.startswith("trial s-0 was deleted: the index is never given again")
    assert "a new trial at a new index runs" in message
    assert EventReason.TRIAL_DELETED.event_type == "Warning"


def test_a_deleted_trial_frees_its_place_in_the_budget(world: World) -> None:
    operator = world.operator()
    operator.reconcile(KEY)
    world.delete_trial("s-0")
    operator.reconcile(KEY)
    for name in world.trial_names():
        world.finish(name, 0.5)
    operator.reconcile(KEY)
    for name in world.trial_names():
        world.finish(name, 0.5)
    operator.reconcile(KEY)

    assert world.trial_names() == ["s-1", "s-2", "s-3", "s-4"]  # maxTrials 4, index 0 gone
    assert world.status()["phase"] == "Succeeded"


def test_an_ended_study_stays_ended_when_a_trial_is_deleted(world: World) -> None:
    operator = world.operator()
    for _ in range(2):
        operator.reconcile(KEY)
        for name in world.trial_names():
            world.finish(name, 0.5)
    operator.reconcile(KEY)
    assert world.status()["phase"] == "Succeeded"

    world.delete_trial("s-2")
    operator.reconcile(KEY)

    assert world.trial_names() == ["s-0", "s-1", "s-3"]
    status = world.status()
    assert (status["phase"], status["deletedTrials"], status["trials"]["total"]) == (
        "Succeeded",
        1,
        3,
    )
    (message,) = world.events(EventReason.TRIAL_DELETED)
    assert "the study has ended and stays ended" in message


def test_a_trial_the_cache_has_not_seen_yet_is_not_taken_for_deleted(world: World) -> None:
    """The status (nextTrialIndex 2) can be newer than the Trials' watch, e.g. just after a
    leader handover: a GET shows the trial exists, and nothing is counted or launched."""
    world.operator().reconcile(KEY)
    world.cache.forget(Kind.TRIAL, KEY, "s-1")  # the API still has it

    world.operator().reconcile(KEY)

    assert world.trial_names() == ["s-0", "s-1"]
    assert world.status().get("deletedTrials") is None
    assert world.events(EventReason.TRIAL_DELETED) == []


# -- a lost pod, counted once --------------------------------------------------------------------


def test_a_lost_pod_is_counted_before_its_job_is_deleted(world: World) -> None:
    operator = world.operator()
    operator.reconcile(KEY)
    world.lose_pod("s-0")
    world.kube.calls.clear()

    operator.reconcile(KEY)

    count = world.kube.calls.index(("PATCH", f"{TRIALS}/s-0/status"))
    assert count < world.kube.calls.index(("DELETE", f"{JOBS}/s-0"))
    status = world.trial("s-0")["status"]
    assert (status["phase"], status["retries"], status["lostJob"]) == ("Pending", 1, "uid-s-0")


def test_an_operator_killed_between_counting_a_loss_and_deleting_the_job_counts_it_once(
    world: World,
) -> None:
    """The state such a kill leaves, built in the API: the loss counted with the Job's uid,
    the lost Job still there. The operator started on it deletes the Job, counts nothing more,
    and runs the trial again."""
    world.operator().reconcile(KEY)
    world.lose_pod("s-0")
    world.set_trial_status("s-0", phase="Pending", reason="PodLost", retries=1, lostJob="uid-s-0")

    restarted = world.operator()
    restarted.reconcile(KEY)
    assert f"{JOBS}/s-0" not in world.kube.objects
    restarted.reconcile(KEY)

    assert f"{JOBS}/s-0" in world.kube.objects  # created again for the same trial
    status = world.trial("s-0")["status"]
    assert (status["phase"], status["retries"]) == ("Pending", 1)
    assert world.trial_names() == ["s-0", "s-1"]


# -- the pure parts: which indices are gone, what the Event says, which ending is kept ------------


def _snapshots(*indices: int) -> dict[int, TrialSnapshot]:
    return {i: TrialSnapshot(i, {"x": i / 10}, TrialPhase.SUCCEEDED) for i in indices}


def test_the_next_index_is_past_every_trial_and_every_index_given() -> None:
    assert study_status.next_trial_index(_snapshots(0, 1), 0) == 2
    assert study_status.next_trial_index(_snapshots(0, 1), 5) == 5
    assert study_status.next_trial_index({}, 0) == 0


def test_the_deleted_indices_are_those_given_without_a_trial() -> None:
    assert study_status.deleted_indices(_snapshots(0, 2, 4), 6) == [1, 3, 5]
    assert study_status.deleted_indices(_snapshots(0, 1, 2), 3) == []


def test_several_deletions_at_once_are_named_in_one_event() -> None:
    before = StudyStatus(phase=StudyPhase.RUNNING)
    after = StudyStatus(phase=StudyPhase.RUNNING, deleted_trials=2, deleted_trial_indices=[1, 3])
    [(reason, message)] = study_status.deletions(before, after, "s")
    assert reason is EventReason.TRIAL_DELETED
    assert message.startswith("trials s-1, s-3 were deleted:")
    assert message.endswith("; 2 deleted in all")
    assert study_status.deletions(after, after, "s") == []


def test_deletions_past_the_listed_indices_are_counted() -> None:
    listed = list(range(MAX_DELETED_LISTED))
    before = StudyStatus(deleted_trials=MAX_DELETED_LISTED, deleted_trial_indices=listed)
    after = StudyStatus(deleted_trials=MAX_DELETED_LISTED + 2, deleted_trial_indices=listed)
    [(_, message)] = study_status.deletions(before, after, "s")
    assert message.startswith("2 more trials were deleted:")
    assert f"{MAX_DELETED_LISTED + 2} deleted in all" in message


def _ended(generation: int, reason: str) -> StudyStatus:
    condition = Condition(
        type=ConditionType.SUCCEEDED if reason != "InvalidSpec" else ConditionType.FAILED,
        status=ConditionStatus.TRUE,
        reason=reason,
        message="all 4 trials (maxTrials) finished",
        last_transition_time=NOW,
        observed_generation=generation,
    )
    phase = StudyPhase.SUCCEEDED if reason != "InvalidSpec" else StudyPhase.FAILED
    return StudyStatus(phase=phase, observed_generation=generation, conditions=[condition])


def test_an_ended_study_keeps_its_ending_until_its_spec_changes() -> None:
    kept = study_status.kept_ending(_ended(3, "BudgetExhausted"), 3)
    assert kept is not None and kept.outcome is Outcome.BUDGET_EXHAUSTED
    assert kept.message == "all 4 trials (maxTrials) finished"
    assert study_status.kept_ending(_ended(3, "BudgetExhausted"), 4) is None
    assert study_status.kept_ending(_ended(3, "InvalidSpec"), 3) is None
    assert study_status.kept_ending(StudyStatus(phase=StudyPhase.RUNNING), 0) is None


class SlowTrialStatus(FakeKube):
    """An API that answers Trial status writes late, as a busy one does."""

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if "/trials/" in path and path.endswith("/status"):
            time.sleep(0.05)
        return super().patch(path, body)


def test_a_study_is_written_finished_only_after_its_trials_are() -> None:
    """Found by the operator-kill chaos test: the study's Succeeded landed while the last
    trial's status write was in flight; killed then, the study showed Succeeded next to a
    Trial still Running."""
    kube = SlowTrialStatus()
    kube.objects[STUDY_PATH] = {**STUDY, "metadata": dict(STUDY["metadata"])}
    cache = ObjectCache()
    cache.apply(
        Kind.STUDY, None, {**STUDY, "metadata": {**STUDY["metadata"], "resourceVersion": "1"}}
    )
    with ThreadPoolExecutor(4) as pool:
        world = World(kube, cache, pool)
        operator = world.operator()
        for _ in range(2):
            operator.reconcile(KEY)
            for name in world.trial_names():
                world.set_trial_status(name, phase="Running")
                job = kube.objects[f"{JOBS}/{name}"]
                job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
                job["status"]["completionTime"] = "2026-01-01T11:59:00Z"
                kube._stamp(job)
                cache.apply(Kind.JOB, None, copy.deepcopy(job))
        kube.calls.clear()
        operator.reconcile(KEY)  # the last two trials finish, and with them the study

    writes = [p for method, p in kube.calls if method == "PATCH"]
    assert writes[-1] == f"{STUDY_PATH}/status", writes
    assert world.status()["phase"] in ("Succeeded", "Failed")
