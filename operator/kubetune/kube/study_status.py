"""A TuningStudy's status, computed from the engine's summary and decision: pure, no I/O.

The phase follows the decision, level-triggered: an ending decided by the engine (goal
reached, budget spent, timeout, too many failures) becomes a terminal phase once no trial
is active any more; until then the study stays Running with reason ``Ending`` while its
trials are being stopped. Because the engine recomputes the ending every time, raising
``maxTrials`` on a finished study makes it Running again, with no special case here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubetune.api.conditions import (
    Condition,
    ConditionStatus,
    ConditionType,
    StudyReason,
    find_condition,
    set_condition,
)
from kubetune.api.events import EventReason
from kubetune.api.study import (
    MAX_DELETED_LISTED,
    BestTrial,
    StudyPhase,
    StudySpec,
    StudyStatus,
    TrialCounts,
)
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.engine import Ending, Outcome, TrialSnapshot
from kubetune.summary import Summary

TERMINAL_CONDITIONS = {
    StudyPhase.SUCCEEDED: ConditionType.SUCCEEDED,
    StudyPhase.FAILED: ConditionType.FAILED,
}
"""The condition a finished study carries, by its final phase."""
FINISHED_EVENTS = {
    StudyPhase.SUCCEEDED: EventReason.STUDY_SUCCEEDED,
    StudyPhase.FAILED: EventReason.STUDY_FAILED,
}
"""The Event that marks a study's end, by its final phase."""
CONDITION_MESSAGE_LIMIT = 4096
"""Characters of a condition message kept (an InvalidSpec message lists every error)."""


@dataclass(frozen=True)
class StudyView:
    """Everything one reconcile learned about a study, as the status needs it."""

    name: str
    generation: int
    spec: StudySpec
    summary: Summary
    snapshots: Mapping[int, TrialSnapshot]
    ending: Ending | None
    start_time: datetime
    gpu_seconds: float
    held: str | None = None
    """Why no trial may be launched now (a missing checkpoint claim), or None."""
    issued: int = 0
    """The stored ``nextTrialIndex``: indices below it were given out before this reconcile."""


def previous_status(raw: Mapping[str, Any] | None) -> StudyStatus:
    """The stored status, or an empty one if it is missing or unreadable."""
    try:
        return StudyStatus.model_validate(raw or {})
    except ValueError:
        return StudyStatus()


def desired(view: StudyView, previous: StudyStatus, now: datetime) -> StudyStatus:
    summary, spec = view.summary, view.spec
    conditions = list(previous.conditions)
    completion = None
    if view.ending is not None and summary.active == 0:
        phase = StudyPhase.SUCCEEDED if view.ending.outcome.succeeded else StudyPhase.FAILED
        completion = previous.completion_time if previous.phase is phase else now
        outcome = str(view.ending.outcome)
        conditions = _set(conditions, ConditionType.RUNNING, False, outcome, "", view, now)
        conditions = _set(
            conditions, TERMINAL_CONDITIONS[phase], True, outcome, view.ending.message, view, now
        )
    else:
        terminal = set(TERMINAL_CONDITIONS.values())
        conditions = [c for c in conditions if c.type not in terminal]
        if view.ending is not None:
            phase = StudyPhase.RUNNING
            message = f"{view.ending.message}; stopping {summary.active} active trials"
            conditions = _set(
                conditions, ConditionType.RUNNING, True, StudyReason.ENDING, message, view, now
            )
        elif view.held is not None:
            phase = StudyPhase.PENDING
            message = f"{view.held}; {summary.active} trials still active"
            conditions = _set(
                conditions,
                ConditionType.RUNNING,
                False,
                StudyReason.CHECKPOINT_CLAIM_MISSING,
                message,
                view,
                now,
            )
        elif spec.suspend:
            phase = StudyPhase.SUSPENDED
            message = f"spec.suspend is set; {summary.active} trials still active"
            conditions = _set(
                conditions, ConditionType.RUNNING, False, StudyReason.SUSPENDED, message, view, now
            )
        else:
            phase = StudyPhase.RUNNING
            conditions = _set(
                conditions, ConditionType.RUNNING, True, StudyReason.TRIALS_RUNNING, "", view, now
            )
    best, best_value = _best(view)
    next_index = next_trial_index(view.snapshots, view.issued)
    deleted = deleted_indices(view.snapshots, next_index)
    return StudyStatus(
        phase=phase,
        observed_generation=view.generation,
        conditions=conditions,
        trials=_counts(summary),
        progress=f"{summary.finished}/{spec.budget.max_trials}",
        best_value=best_value,
        best_trial=best,
        pareto_front=[_best_trial(view, i) for i in summary.pareto_indices],
        pareto_front_size=summary.front_size if spec.is_multi_objective else None,
        hypervolume=_rounded(summary.hypervolume),
        feasible_trials=summary.feasible,
        start_time=view.start_time,
        completion_time=completion,
        gpu_seconds=round(view.gpu_seconds, 1),
        pruned_saved_steps=summary.saved_steps or None,
        next_trial_index=next_index,
        deleted_trials=len(deleted) or None,
        deleted_trial_indices=deleted[:MAX_DELETED_LISTED],
    )


def next_trial_index(snapshots: Mapping[int, TrialSnapshot], issued: int) -> int:
    """The index the next trial gets: past every trial there is, and past every index ever
    given (``issued``, stored in the status), so a deleted Trial's index is never reused."""
    return max(issued, max(snapshots, default=-1) + 1)


def deleted_indices(snapshots: Mapping[int, TrialSnapshot], next_index: int) -> list[int]:
    """Indices given to trials whose Trial is gone (deleted by hand), lowest first.

    Trials are created in index order (``Actions.launch``), so every index below
    ``next_index`` had a Trial; one missing now was deleted."""
    if len(snapshots) >= next_index:
        return []
    return [i for i in range(next_index) if i not in snapshots]


def kept_ending(previous: StudyStatus, generation: int) -> Ending | None:
    """The ending of a study that already ended at this spec generation, else None.

    A Trial deleted from an ended study would free a place in ``maxTrials`` (or take the
    goal's trial away) and so reopen it; it stays ended instead. A new generation (a higher
    ``maxTrials``, a longer ``timeoutSeconds``) is looked at afresh, as always."""
    if previous.phase not in TERMINAL_CONDITIONS or previous.observed_generation != generation:
        return None
    condition = find_condition(previous.conditions, TERMINAL_CONDITIONS[previous.phase])
    if condition is None or condition.reason not in set(Outcome):
        return None  # e.g. InvalidSpec: not an ending the engine decided
    return Ending(Outcome(condition.reason), condition.message)


def invalid(previous: StudyStatus, generation: int, message: str, now: datetime) -> StudyStatus:
    """A study the operator cannot run: Failed with reason InvalidSpec naming the field."""
    return _not_running(
        previous, generation, StudyPhase.FAILED, StudyReason.INVALID_SPEC, message, now
    )


def waiting(previous: StudyStatus, generation: int, message: str, now: datetime) -> StudyStatus:
    """A study whose warm-start source is missing or unreadable: Pending, reason
    WarmStartUnavailable naming the field and the fix, until the source is fixed."""
    return _not_running(
        previous, generation, StudyPhase.PENDING, StudyReason.WARM_START_UNAVAILABLE, message, now
    )


def _not_running(
    previous: StudyStatus,
    generation: int,
    phase: StudyPhase,
    reason: StudyReason,
    message: str,
    now: datetime,
) -> StudyStatus:
    """Running false with ``reason``; Failed also true (and a completion time) if ``phase``
    is Failed, no terminal condition otherwise."""
    failed = phase is StudyPhase.FAILED
    kept = {ConditionType.FAILED} if failed else set()
    dropped = set(TERMINAL_CONDITIONS.values()) - kept
    conditions = [c for c in previous.conditions if c.type not in dropped]
    states = [(ConditionType.RUNNING, False)] + [(type_, True) for type_ in kept]
    for type_, true in states:
        conditions = set_condition(
            conditions,
            Condition(
                type=type_,
                status=ConditionStatus.TRUE if true else ConditionStatus.FALSE,
                reason=reason,
                message=message[:CONDITION_MESSAGE_LIMIT],
                last_transition_time=now,
                observed_generation=generation,
            ),
        )
    return previous.model_copy(
        update={
            "phase": phase,
            "observed_generation": generation,
            "conditions": conditions,
            "completion_time": (previous.completion_time or now) if failed else None,
        }
    )


def to_patch_body(status: StudyStatus) -> dict[str, Any]:
    """The full status as JSON, with nulls so that a merge patch clears unset fields."""
    return status.model_dump(by_alias=True, mode="json")


def changed(previous_raw: Mapping[str, Any] | None, status: StudyStatus) -> bool:
    body = to_patch_body(status)
    previous = previous_raw or {}
    return any(previous.get(k) != v for k, v in body.items())


def _set(
    conditions: Sequence[Condition],
    type_: ConditionType,
    true: bool,
    reason: str,
    message: str,
    view: StudyView,
    now: datetime,
) -> list[Condition]:
    return set_condition(
        conditions,
        Condition(
            type=type_,
            status=ConditionStatus.TRUE if true else ConditionStatus.FALSE,
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=view.generation,
        ),
    )


def _rounded(value: float | None) -> float | None:
    """Six significant digits: enough to follow, and no status write per rounding change."""
    return None if value is None else float(f"{value:.6g}")


def _counts(summary: Summary) -> TrialCounts:
    c = summary.counts
    return TrialCounts(
        total=summary.total,
        pending=c.get(TrialPhase.PENDING, 0),
        running=c.get(TrialPhase.RUNNING, 0),
        succeeded=c.get(TrialPhase.SUCCEEDED, 0),
        failed=c.get(TrialPhase.FAILED, 0),
        pruned=c.get(TrialPhase.PRUNED, 0),
        stopped=c.get(TrialPhase.STOPPED, 0),
    )


def _best(view: StudyView) -> tuple[BestTrial | None, float | None]:
    index = view.summary.best_index
    if index is None:
        return None, None
    best = _best_trial(view, index)
    return best, best.values.get(view.spec.objective_list[0].metric)


def _best_trial(view: StudyView, index: int) -> BestTrial:
    snapshot = view.snapshots[index]
    return BestTrial(
        name=trial_name(view.name, index),
        index=index,
        parameters=dict(snapshot.params),
        values={m: snapshot.values[m] for m in view.spec.named_metrics if m in snapshot.values},
    )


def announcements(previous: StudyStatus, status: StudyStatus) -> list[tuple[EventReason, str]]:
    """The Events a status change is worth: a new best trial, the study's end."""
    result = []
    best, old = status.best_trial, previous.best_trial
    if best is not None and (old is None or old.index != best.index):
        values = ", ".join(f"{k}={v:g}" for k, v in sorted(best.values.items()))
        result.append((EventReason.BEST_TRIAL_IMPROVED, f"{best.name}: {values}"))
    held = _held_message(status)
    if held is not None and _held_message(previous) is None:
        result.append((EventReason.CHECKPOINT_CLAIM_MISSING, held))
    if status.phase != previous.phase and status.phase in FINISHED_EVENTS:
        condition = find_condition(status.conditions, TERMINAL_CONDITIONS[status.phase])
        reason = condition.reason if condition else str(status.phase)
        message = condition.message if condition else ""
        result.append((FINISHED_EVENTS[status.phase], f"{reason}: {message}"))
    return result


def deletions(
    previous: StudyStatus, status: StudyStatus, study: str
) -> list[tuple[EventReason, str]]:
    """A ``TrialDeleted`` Event when more of the study's trials are gone than before, naming
    them and what happens next."""
    before, now = previous.deleted_trials or 0, status.deleted_trials or 0
    if now <= before:
        return []
    known = set(previous.deleted_trial_indices)
    count = now - before
    names = [trial_name(study, i) for i in status.deleted_trial_indices if i not in known]
    names = names[:count]
    if len(names) == count:
        gone = f"trial {names[0]} was" if count == 1 else f"trials {', '.join(names)} were"
    elif names:
        gone = f"trials {', '.join(names)} and {count - len(names)} more were"
    else:  # past the indices the status lists
        gone = f"{count} more trials were" if count > 1 else "1 more trial was"
    if status.phase in TERMINAL_CONDITIONS:
        after = (
            "the study has ended and stays ended (a new spec generation, e.g. a higher "
            "budget.maxTrials, runs more trials)"
        )
    else:
        after = "each frees its place in budget.maxTrials, so a new trial at a new index runs"
    message = (
        f"{gone} deleted: the index is never given again, the result counts nowhere, and "
        f"{after}; {now} deleted in all"
    )
    return [(EventReason.TRIAL_DELETED, message)]


def _held_message(status: StudyStatus) -> str | None:
    running = find_condition(status.conditions, ConditionType.RUNNING)
    if running is None or running.reason != StudyReason.CHECKPOINT_CLAIM_MISSING:
        return None
    return running.message


def missing_claim_message(claim: str, namespace: str) -> str:
    """Why a study whose checkpoint claim does not exist launches nothing, and the fix."""
    return (
        f"spec.trialTemplate.checkpoints.persistentVolumeClaim.claimName: "
        f"PersistentVolumeClaim {claim!r} does not exist in namespace {namespace!r}; create it "
        "(ReadWriteMany, or ReadWriteOnce with the trials kept on one node) or name an "
        "existing claim. No trial is launched until it exists"
    )


def started_message(spec: StudySpec) -> str:
    """The message of the ``Started`` Event."""
    return f"{spec.algorithm.name} search of {spec.budget.max_trials} trials"
