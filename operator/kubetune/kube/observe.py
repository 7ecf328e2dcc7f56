"""What one reconcile sees: a study's Trials, Jobs and pods, as the engine and writers need them.

Pure: no API calls and no clock (``now`` comes in with the ``TrialContext``), so every step
here is unit-tested with plain dicts. The reconciler reads the cache into ``StudyObjects``,
derives each trial's observation (``observe_all``), lets ``actions`` settle the few trials
that need an API call first (``needs_api``: a stop to finish, a verdict to confirm), then
``tally`` turns the settled trials into the engine's snapshots, the Trial status patches
to write and the Jobs still to create. What the study's status and Events become is
``study_status``'s part; when to look again is ``next_look``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from kubetune.api.reasons import TrialReason
from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import NewTrial, TrialSnapshot
from kubetune.history import IntermediateValue
from kubetune.kube import objects as rendered
from kubetune.kube import trial_status
from kubetune.kube.objects import STOP_REQUESTED_ANNOTATION, TRIAL_LABEL
from kubetune.summary import Summary

KubeObject = dict[str, Any]
"""A Kubernetes object as the API returned it (JSON), or as the cache slimmed it."""

TIMEOUT_MARGIN_SECONDS = 0.5
"""A study with a timeout is looked at this long after it expires, so the look sees it expired."""

MIN_LOOK_SECONDS = 0.05
"""Shortest wait before a study's next reconcile: a deadline already past must not spin."""


@dataclass(frozen=True)
class StudyObjects:
    """A study's Trials (as a list), Jobs (by name) and pods (by their trial's name)."""

    trials: list[KubeObject]
    jobs: dict[str, KubeObject]
    pods_by_trial: dict[str, list[KubeObject]]

    @classmethod
    def group(
        cls,
        trials: Mapping[str, KubeObject],
        jobs: Mapping[str, KubeObject],
        pods: Mapping[str, KubeObject],
    ) -> StudyObjects:
        """From the cache's by-name maps of each kind."""
        by_trial: dict[str, list[KubeObject]] = defaultdict(list)
        for pod in pods.values():
            by_trial[(pod["metadata"].get("labels") or {}).get(TRIAL_LABEL, "")].append(pod)
        return cls(list(trials.values()), dict(jobs), dict(by_trial))


@dataclass(frozen=True)
class TrialContext:
    """What deriving a trial's phase and status needs besides its own objects."""

    objective_metrics: tuple[str, ...]
    gpu_resource: str
    gpus: float
    """Physical GPUs' worth each trial holds (``ResourcesSpec.gpu_share``)."""
    now: datetime
    failed_creates: Mapping[str, str] = field(default_factory=dict)
    """The latest FailedCreate message by Job uid; read only while a trial waits for its pod."""
    max_pod_retries: int = 0
    """How often a trial whose pod was lost runs again (the operator's ``max_pod_retries``)."""
    curves: bool = True
    """Whether snapshots carry whole intermediate curves (``Planner.reads_intermediate``);
    else only each trial's last point, all the summary needs: in a 20,000-trial study of
    100-point curves that is two million points less to copy on every reconcile."""

    @classmethod
    def of(cls, spec: StudySpec, now: datetime) -> TrialContext:
        resources = spec.trial_template.resources
        metrics = tuple(o.metric for o in spec.objective_list)
        return cls(metrics, resources.gpu_resource, resources.gpu_share, now)


class Settled(NamedTuple):
    """A trial, what it is observed to be, and when its stop deadline needs a look (seconds)."""

    trial: KubeObject
    observation: trial_status.Observation
    wake_in: float = math.inf


class StatusWrite(NamedTuple):
    """A Trial status merge patch to send, with the observation it records."""

    trial: KubeObject
    patch: dict[str, Any]
    observation: trial_status.Observation


@dataclass
class TrialsObserved:
    """Everything the reconcile learned from the trials, before the engine decides."""

    snapshots: dict[int, TrialSnapshot] = field(default_factory=dict)
    missing_jobs: list[KubeObject] = field(default_factory=list)
    """Trials without a Job (the operator died between the two creates)."""
    gpu_seconds: float = 0.0
    """GPU-seconds of the finished trials."""
    wake_in: float = math.inf
    """Seconds until the earliest stop grace period ends."""
    writes: list[StatusWrite] = field(default_factory=list)
    """Trial status writes to make once successors are launched."""


def observe(
    trial: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    objects: StudyObjects,
    context: TrialContext,
) -> trial_status.Observation:
    """One trial's phase and reason from its Job and pods."""
    pods = objects.pods_by_trial.get(trial["metadata"]["name"], [])
    failed_create = context.failed_creates.get(job["metadata"].get("uid", "")) if job else None
    return trial_status.derive(
        trial,
        job,
        pods,
        context.objective_metrics,
        context.gpu_resource,
        context.now,
        failed_create,
        context.max_pod_retries,
    )


def observe_all(objects: StudyObjects, context: TrialContext) -> list[trial_status.Observation]:
    return [
        observe(t, objects.jobs.get(t["metadata"]["name"]), objects, context)
        for t in objects.trials
    ]


@dataclass(frozen=True)
class StrayJobs:
    """A study's Jobs without a Trial, and what becomes of each.

    A Job is created at the same time as its Trial (``Actions.launch``), so either can exist
    without the other: a Trial without a Job gets its Job (``TrialsObserved.missing_jobs``);
    for a Job without a Trial, the study's given indices tell a Trial never created from
    one deleted by hand."""

    adopt: list[dict[str, Any]] = field(default_factory=list)
    """The ``objects.trial_identity`` of each Job at or past the next index to give (the
    operator died between the two creates), lowest index first: their Trials are created
    from them before anything is decided."""
    collect: list[str] = field(default_factory=list)
    """Jobs of indices given before, whose Trial was deleted: deleted (their pods too)."""


def stray_jobs(
    trials: Mapping[str, KubeObject], jobs: Mapping[str, KubeObject], next_index: int
) -> StrayJobs:
    """The Jobs in ``jobs`` whose Trial is not in ``trials`` (both by name); ``next_index``
    is ``study_status.next_trial_index``. Jobs with no identity (an older operator's, owned
    by their Trial) and Jobs being deleted are the garbage collector's."""
    strays = StrayJobs()
    names = jobs.keys() - trials.keys()
    if not names:
        return strays
    for name in sorted(names):
        job = jobs[name]
        identity = rendered.job_identity(job)
        if identity is None or job["metadata"].get("deletionTimestamp"):
            continue
        if identity["index"] >= next_index:
            strays.adopt.append(identity)
        else:
            strays.collect.append(name)
    strays.adopt.sort(key=lambda identity: identity["index"])
    return strays


def wrong_jobs(objects: StudyObjects) -> list[str]:
    """Trials whose Job evaluates something else than the Trial says (two operators, each
    sure it led, created the Trial and the Job of one index with their own suggestions):
    their Jobs are deleted, and made again from the Trial.

    Only Trials whose status shows nothing run yet are looked at. A Job is created with
    its Trial or later from it, so a wrong one exists from the trial's start, and every
    reconcile looks before it writes Running: checked once more on each of the hundreds of
    running trials, the annotations would be parsed again on every reconcile for nothing."""
    wrong = []
    for trial in objects.trials:
        if (trial.get("status") or {}).get("phase") not in _NOTHING_RUN:
            continue
        name = trial["metadata"]["name"]
        job = objects.jobs.get(name)
        if job is not None and not rendered.evaluates(job, trial):
            wrong.append(name)
    return wrong


_NOTHING_RUN = frozenset({None, "", TrialPhase.PENDING})
"""Trial status phases before any program of the trial was seen running."""


def waits_for_pod(observations: Iterable[trial_status.Observation]) -> bool:
    """Whether some trial's Job has no pod yet (then the Job's FailedCreate Events say why)."""
    return any(o.reason == TrialReason.WAITING_FOR_POD for o in observations)


def stop_pending(trial: Mapping[str, Any], observation: trial_status.Observation) -> bool:
    """The trial was asked to stop (``spec.stop``) and has not ended yet."""
    return bool(trial["spec"].get("stop")) and observation.phase.is_active()


def needs_api(trial: Mapping[str, Any], observation: trial_status.Observation) -> bool:
    """Whether settling this trial takes an API call: most do not, and stay off the pool."""
    return stop_pending(trial, observation) or observation.from_metrics or observation.retry


def split(
    trials: Sequence[KubeObject], observations: Sequence[trial_status.Observation]
) -> tuple[list[Settled], list[Settled]]:
    """The trials settled as they are, and those that ``needs_api`` before the decision."""
    quiet: list[Settled] = []
    busy: list[Settled] = []
    for trial, observation in zip(trials, observations, strict=True):
        item = Settled(trial, observation)
        (busy if needs_api(trial, observation) else quiet).append(item)
    return quiet, busy


def stop_wait(
    trial: Mapping[str, Any],
    observation: trial_status.Observation,
    now: datetime,
    grace_seconds: float,
) -> float:
    """Seconds the stopping trial still has to exit by itself (<= 0: delete its Job now)."""
    if observation.phase is TrialPhase.PENDING:
        return 0.0  # nothing runs yet: nothing to lose
    annotations = trial["metadata"].get("annotations") or {}
    requested = trial_status.parse_time(annotations.get(STOP_REQUESTED_ANNOTATION)) or now
    deadline = requested + timedelta(seconds=grace_seconds)
    return (deadline - now).total_seconds()


class RecordedSnapshots:
    """The snapshots of one study's recorded trials (``is_recorded``), by name and version.

    A recorded trial's snapshot can only change with its object, so it is built once per
    resourceVersion instead of on every reconcile: in a 20,000-trial study that was most of
    a reconcile's work. Kept only for snapshots without whole curves (``context.curves``
    off), so the memory is a few hundred bytes a trial, not a second copy of every curve.
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, TrialSnapshot]] = {}

    def snapshot(self, trial: Mapping[str, Any], phase: TrialPhase) -> TrialSnapshot:
        metadata = trial["metadata"]
        name, version = metadata["name"], str(metadata.get("resourceVersion") or "")
        held = self._held.get(name)
        if held is not None and version and held[0] == version:
            return held[1]
        snapshot = _snapshot(trial, phase, curves=False)
        self._held[name] = (version, snapshot)
        return snapshot

    def keep(self, names: set[str]) -> None:
        """Forget the trials no longer there (deleted with their study, or by hand)."""
        if len(self._held) > len(names):
            self._held = {n: held for n, held in self._held.items() if n in names}


def tally(
    settled: Iterable[Settled],
    jobs: Mapping[str, Any],
    context: TrialContext,
    recorded: RecordedSnapshots | None = None,
) -> TrialsObserved:
    """Snapshots, status writes, missing Jobs and GPU-seconds of the settled trials;
    ``recorded`` keeps the recorded trials' snapshots between calls."""
    result = TrialsObserved()
    objective = context.objective_metrics[0]
    memo = recorded if recorded is not None and not context.curves else None
    seen: set[str] = set()
    for trial, observation, wake_in in settled:
        result.wake_in = min(result.wake_in, wake_in)
        if is_recorded(trial, observation):
            result.gpu_seconds += float(trial["status"].get("gpuSeconds") or 0.0)
            if memo is not None:
                seen.add(trial["metadata"]["name"])
                snapshot = memo.snapshot(trial, observation.phase)
            else:
                snapshot = _snapshot(trial, observation.phase, curves=context.curves)
            result.snapshots[snapshot.index] = snapshot
            continue
        write = status_write(trial, observation, context)
        if write is not None:
            result.writes.append(write)
        if observation.phase.is_finished():
            desired = trial_status.desired_status(
                trial, observation, context.gpus, objective, context.now
            )
            result.gpu_seconds += float(desired["gpuSeconds"] or 0.0)
        elif trial["metadata"]["name"] not in jobs and not trial["spec"].get("stop"):
            result.missing_jobs.append(trial)
        snapshot = _snapshot(trial, observation.phase, observation.recovered, context.curves)
        result.snapshots[snapshot.index] = snapshot
    if memo is not None:
        memo.keep(seen)
    return result


def status_write(
    trial: KubeObject, observation: trial_status.Observation, context: TrialContext
) -> StatusWrite | None:
    """The Trial status write ``observation`` needs, or None when the status already says it."""
    objective = context.objective_metrics[0]
    patch = trial_status.status_patch(trial, observation, context.gpus, objective, context.now)
    return None if patch is None else StatusWrite(trial, patch, observation)


def is_recorded(trial: Mapping[str, Any], observation: trial_status.Observation) -> bool:
    """A finished trial whose verdict is already in its status: nothing left to write.

    Its status was written whole in the patch that recorded the verdict, and a recorded
    verdict stands (``trial_status.derive``), so the status is final. In a big study nearly
    every trial is one of these; skipping their status computation keeps a reconcile's
    cost in the trials still moving.
    """
    status = trial.get("status") or {}
    return (
        observation.phase.is_finished()
        and status.get("phase") == observation.phase
        and "gpuSeconds" in status  # else written by something older: complete it
        and not observation.recovered
        and not observation.retry
    )


def _snapshot(
    trial: Mapping[str, Any],
    phase: TrialPhase,
    recovered: Mapping[str, Any] | None = None,
    curves: bool = True,
) -> TrialSnapshot:
    """``recovered``: runner fields the operator takes over from a termination message;
    ``curves``: the whole intermediate curve, else its last point."""
    spec = trial["spec"]
    status = trial_status.reported(trial.get("status") or {}, recovered or {})
    points = status.get("intermediate") or []
    intermediate = tuple(
        IntermediateValue(int(p["step"]), dict(p.get("values") or {}))
        for p in (points if curves else points[-1:])
        if isinstance(p, dict) and "step" in p
    )
    return TrialSnapshot(
        index=int(spec["index"]),
        params=spec.get("parameters") or {},
        phase=phase,
        values={k: float(v) for k, v in (status.get("values") or {}).items()},
        intermediate=intermediate,
        budget=spec.get("budget"),
        stop_requested=bool(spec.get("stop")),
        attributes=spec.get("attributes") or {},
    )


def with_launched(
    snapshots: Mapping[int, TrialSnapshot], created: Sequence[NewTrial]
) -> dict[int, TrialSnapshot]:
    """The snapshots plus the trials just created, as Pending."""
    result = dict(snapshots)
    for new in created:
        result[new.index] = TrialSnapshot(
            new.index, new.params, TrialPhase.PENDING, budget=new.budget
        )
    return result


def best_values(
    spec: StudySpec, summary: Summary, snapshots: Mapping[int, TrialSnapshot]
) -> dict[str, float]:
    """The best trial's objective values, for the best-value gauge."""
    if summary.best_index is None:
        return {}
    values = snapshots[summary.best_index].values
    return {o.metric: values[o.metric] for o in spec.objective_list if o.metric in values}


def next_look(
    wake_in: float,
    interval_seconds: float,
    timeout_seconds: int | None,
    elapsed_seconds: float,
    ending: bool,
) -> float:
    """Seconds until the study's next reconcile: a stop deadline, its timeout or the interval."""
    wait = min(wake_in, interval_seconds)
    if timeout_seconds is not None and not ending:
        left = timeout_seconds - elapsed_seconds
        wait = min(wait, max(left, 0.0) + TIMEOUT_MARGIN_SECONDS)
    return max(wait, MIN_LOOK_SECONDS)
