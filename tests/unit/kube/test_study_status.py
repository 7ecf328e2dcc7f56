"""A study's status from the engine's summary and decision: phases, conditions, best trial."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kubetune.api.events import EventReason, EventType
from kubetune.api.study import StudyPhase, StudySpec, StudyStatus
from kubetune.api.trial import TrialPhase
from kubetune.engine import Ending, Outcome, Planner, TrialSnapshot
from kubetune.kube import study_status

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = StudySpec.model_validate(
    {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}],
        "budget": {"maxTrials": 3, "parallelTrials": 2},
        "trialTemplate": {
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["run"]}]}}}
        },
    }
)


def view(phases: list[TrialPhase], ending: Ending | None, spec: StudySpec = SPEC):
    snapshots = {
        i: TrialSnapshot(
            i, {"x": i / 10}, phase, {"loss": 1.0 - i / 10} if phase is TrialPhase.SUCCEEDED else {}
        )
        for i, phase in enumerate(phases)
    }
    summary = Planner(spec, "s").summarize(list(snapshots.values()))
    return study_status.StudyView("s", 2, spec, summary, snapshots, ending, NOW, 12.0)


DONE = Ending(Outcome.BUDGET_EXHAUSTED, "all 3 trials (maxTrials) finished")


def test_running_study_counts_trials_and_names_the_best() -> None:
    status = study_status.desired(
        view([TrialPhase.SUCCEEDED, TrialPhase.SUCCEEDED, TrialPhase.RUNNING], None),
        StudyStatus(),
        NOW,
    )

    assert status.phase is StudyPhase.RUNNING
    assert (status.trials.succeeded, status.trials.running, status.trials.total) == (2, 1, 3)
    assert status.progress == "2/3"
    assert status.best_trial is not None
    assert (status.best_trial.name, status.best_value) == ("s-1", 0.9)
    assert status.observed_generation == 2
    assert status.completion_time is None


def test_an_ending_with_trials_still_active_keeps_running_while_they_stop() -> None:
    ending = Ending(Outcome.GOAL_REACHED, "trial 0 reached loss=0")
    status = study_status.desired(
        view([TrialPhase.SUCCEEDED, TrialPhase.RUNNING], ending), StudyStatus(), NOW
    )

    assert status.phase is StudyPhase.RUNNING
    running = next(c for c in status.conditions if c.type == "Running")
    assert running.reason == "Ending" and "stopping 1" in running.message


def test_an_ending_with_nothing_active_is_terminal_with_its_reason() -> None:
    status = study_status.desired(view([TrialPhase.SUCCEEDED] * 3, DONE), StudyStatus(), NOW)

    assert status.phase is StudyPhase.SUCCEEDED
    succeeded = next(c for c in status.conditions if c.type == "Succeeded")
    assert (succeeded.status, succeeded.reason) == ("True", "BudgetExhausted")
    assert status.completion_time == NOW
    later = study_status.desired(
        view([TrialPhase.SUCCEEDED] * 3, DONE), status, NOW + timedelta(hours=1)
    )
    assert later.completion_time == NOW  # unchanged: no needless writes
    assert not study_status.changed(study_status.to_patch_body(status), later)


def test_too_many_failures_fail_the_study() -> None:
    ending = Ending(Outcome.TOO_MANY_FAILED_TRIALS, "3 trials failed")
    status = study_status.desired(view([TrialPhase.FAILED] * 3, ending), StudyStatus(), NOW)

    assert status.phase is StudyPhase.FAILED
    assert next(c for c in status.conditions if c.type == "Failed").reason == "TooManyFailedTrials"


def test_a_finished_study_given_more_trials_runs_again_without_terminal_conditions() -> None:
    finished = study_status.desired(view([TrialPhase.SUCCEEDED] * 3, DONE), StudyStatus(), NOW)
    status = study_status.desired(view([TrialPhase.SUCCEEDED] * 3, None), finished, NOW)

    assert status.phase is StudyPhase.RUNNING
    assert {c.type for c in status.conditions} == {"Running"}
    assert status.completion_time is None


def test_suspended_study() -> None:
    spec = SPEC.model_copy(update={"suspend": True})
    status = study_status.desired(view([TrialPhase.RUNNING], None, spec), StudyStatus(), NOW)
    assert status.phase is StudyPhase.SUSPENDED


def test_invalid_spec_fails_with_the_message() -> None:
    status = study_status.invalid(
        StudyStatus(), 4, "spec.algorithm: grid needs a finite space", NOW
    )

    assert status.phase is StudyPhase.FAILED
    failed = next(c for c in status.conditions if c.type == "Failed")
    assert (failed.reason, failed.observed_generation) == ("InvalidSpec", 4)
    assert "spec.algorithm" in failed.message


def test_a_study_waiting_for_its_warm_start_source_is_pending_not_failed() -> None:
    failed = study_status.invalid(StudyStatus(), 1, "spec.algorithm: bad", NOW)
    message = "spec.warmStart.configMap.name: no ConfigMap 'past' in namespace 'ns'"

    status = study_status.waiting(failed, 2, message, NOW + timedelta(seconds=5))

    assert status.phase is StudyPhase.PENDING and status.completion_time is None
    assert {c.type for c in status.conditions} == {"Running"}
    (running,) = status.conditions
    assert (running.status, running.reason) == ("False", "WarmStartUnavailable")
    assert running.message == message and running.observed_generation == 2


def test_an_unchanged_refusal_keeps_its_transition_time_so_nothing_is_written() -> None:
    first = study_status.invalid(StudyStatus(), 1, "spec.x: bad", NOW)
    again = study_status.invalid(first, 1, "spec.x: bad", NOW + timedelta(minutes=1))
    assert not study_status.changed(study_status.to_patch_body(first), again)
    waiting = study_status.waiting(StudyStatus(), 1, "spec.warmStart.studies[0]: none", NOW)
    later = study_status.waiting(waiting, 1, "spec.warmStart.studies[0]: none", NOW + timedelta(1))
    assert not study_status.changed(study_status.to_patch_body(waiting), later)


def test_a_new_best_trial_is_announced_once() -> None:
    first = study_status.desired(view([TrialPhase.SUCCEEDED], None), StudyStatus(), NOW)
    [(reason, message)] = study_status.announcements(StudyStatus(), first)
    assert (reason, message) == (EventReason.BEST_TRIAL_IMPROVED, "s-0: loss=1")
    again = study_status.desired(view([TrialPhase.SUCCEEDED, TrialPhase.RUNNING], None), first, NOW)
    assert study_status.announcements(first, again) == []


def test_the_end_of_a_study_is_announced_with_its_reason() -> None:
    running = study_status.desired(view([TrialPhase.SUCCEEDED] * 3, None), StudyStatus(), NOW)
    done = study_status.desired(view([TrialPhase.SUCCEEDED] * 3, DONE), running, NOW)
    assert study_status.announcements(running, done) == [
        (EventReason.STUDY_SUCCEEDED, f"BudgetExhausted: {DONE.message}")
    ]
    failing = Ending(Outcome.TOO_MANY_FAILED_TRIALS, "3 trials failed")
    failed = study_status.desired(view([TrialPhase.FAILED] * 3, failing), StudyStatus(), NOW)
    [(reason, message)] = study_status.announcements(StudyStatus(), failed)
    assert (reason, message) == (EventReason.STUDY_FAILED, "TooManyFailedTrials: 3 trials failed")
    assert reason.event_type is EventType.WARNING
    assert study_status.announcements(done, done) == []


def test_a_constrained_multi_objective_study_shows_its_front_hypervolume_and_feasible_count() -> (
    None
):
    document = SPEC.model_dump(by_alias=True, exclude_none=True)
    document.pop("objective")
    document.update(
        objectives=[
            {"metric": "loss", "direction": "minimize"},
            {"metric": "cost", "direction": "minimize"},
        ],
        metrics=["latency"],
        constraints=[{"metric": "latency", "max": 10}],
        referencePoint=[2.0, 2.0],
    )
    spec = StudySpec.model_validate(document)
    values = [
        {"loss": 0.5, "cost": 1.0, "latency": 1.0},
        {"loss": 1.0, "cost": 0.5, "latency": 5.0},
        {"loss": 0.0, "cost": 0.0, "latency": 99.0},  # dominates both, infeasible
    ]
    snapshots = {
        i: TrialSnapshot(i, {"x": 0.1}, TrialPhase.SUCCEEDED, v) for i, v in enumerate(values)
    }
    summary = Planner(spec, "s").summarize(list(snapshots.values()))
    status = study_status.desired(
        study_status.StudyView("s", 1, spec, summary, snapshots, DONE, NOW, 0.0), StudyStatus(), NOW
    )
    assert [t.index for t in status.pareto_front] == [0, 1]
    assert (status.pareto_front_size, status.feasible_trials) == (2, 2)
    assert status.hypervolume == 1.5 * 1.0 + 1.0 * 0.5
    assert status.best_value is None
    patch = study_status.to_patch_body(status)
    assert (patch["paretoFrontSize"], patch["feasibleTrials"], patch["hypervolume"]) == (2, 2, 2.0)


def test_a_missing_checkpoint_claim_holds_the_study_and_is_announced_once() -> None:
    held_by = study_status.missing_claim_message("ckpt", "ns")
    held = replace(view([TrialPhase.RUNNING], None), held=held_by)
    status = study_status.desired(held, StudyStatus(), NOW)

    assert status.phase is StudyPhase.PENDING
    running = next(c for c in status.conditions if c.type == "Running")
    assert (running.status, running.reason) == ("False", "CheckpointClaimMissing")
    assert running.message == f"{held_by}; 1 trials still active"
    [(reason, message)] = study_status.announcements(StudyStatus(), status)
    assert (reason, message, reason.event_type) == (
        EventReason.CHECKPOINT_CLAIM_MISSING,
        running.message,
        EventType.WARNING,
    )
    assert study_status.announcements(status, status) == []
    resumed = study_status.desired(view([TrialPhase.RUNNING], None), status, NOW)
    assert resumed.phase is StudyPhase.RUNNING


def test_an_ending_outranks_a_missing_claim() -> None:
    held = replace(view([TrialPhase.SUCCEEDED] * 3, DONE), held="claim missing")
    assert study_status.desired(held, StudyStatus(), NOW).phase is StudyPhase.SUCCEEDED
