"""The runner's final report in the termination message: never score a partial report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubetune import lifecycle
from kubetune.api.reasons import TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.kube import trial_status
from kubetune.kube.trial_status import final_report, status_patch
from kubetune_runner import _termination, cli
from tests.unit.kube.test_trial_status import NOW, job, observe, pod, terminated, trial

COMPLETE = ("Complete", "", "")


def report(values: dict[str, float], step: int | None, **extra: Any) -> str:
    return _termination.render(values, extra.get("non_finite", {}), step, 20, False, ["loss"])


def done(code: int, message: str) -> dict[str, Any]:
    reason = "Completed" if code == 0 else "Error"
    return pod("Succeeded" if code == 0 else "Failed", **terminated(code, reason, message))


def test_the_runner_and_the_operator_agree_on_the_format_and_the_exit_code() -> None:
    assert trial_status.TERMINATION_REPORT_KEY == _termination.MARKER
    assert trial_status.TERMINATION_REPORT_VERSION == _termination.FORMAT_VERSION
    assert lifecycle.UNDELIVERED_EXIT_CODE == cli.EXIT_UNDELIVERED


def test_a_trial_whose_reports_never_arrived_succeeds_with_its_final_values() -> None:
    t = trial()  # the API server was down for every report
    result = observe(t, job(COMPLETE), [done(0, report({"loss": 0.2}, 20))])
    assert (result.phase, result.reason) == (TrialPhase.SUCCEEDED, TrialReason.COMPLETED)
    assert result.recovered == {"values": {"loss": 0.2}, "lastStep": 20}
    patch = status_patch(t, result, 0, "loss", NOW)
    assert patch is not None
    assert patch["status"]["values"] == {"loss": 0.2}
    assert patch["status"]["lastStep"] == 20
    assert patch["status"]["value"] == 0.2


def test_a_stale_value_is_replaced_by_the_final_one() -> None:
    t = trial(values={"loss": 0.9}, lastStep=10)  # step 20 was sent while the API was paused
    result = observe(t, job(COMPLETE), [done(0, report({"loss": 0.2}, 20))])
    assert result.phase is TrialPhase.SUCCEEDED
    patch = status_patch(t, result, 0, "loss", NOW)
    assert patch is not None and patch["status"]["value"] == 0.2


def test_the_pod_finishing_before_the_job_is_decided_from_the_report_too() -> None:
    result = observe(trial(), job(), [done(0, report({"loss": 0.2}, 20))])
    assert result.phase is TrialPhase.SUCCEEDED
    assert result.recovered["values"] == {"loss": 0.2}


def test_a_delivered_report_adds_nothing() -> None:
    t = trial(values={"loss": 0.2}, lastStep=20)
    result = observe(t, job(COMPLETE), [done(0, report({"loss": 0.2}, 20))])
    assert result.phase is TrialPhase.SUCCEEDED and result.recovered == {}


def test_a_later_delivered_step_wins_over_an_older_report() -> None:
    t = trial(values={"loss": 0.1}, lastStep=30)
    result = observe(t, job(COMPLETE), [done(0, report({"loss": 0.2}, 20))])
    assert result.recovered == {}


def test_a_non_finite_final_objective_fails_as_not_finite() -> None:
    t = trial(values={"loss": 0.3}, lastStep=3)
    message = report({}, 4, non_finite={"loss": "nan"})
    result = observe(t, job(COMPLETE), [done(0, message)])
    assert (result.phase, result.reason) == (TrialPhase.FAILED, TrialReason.OBJECTIVE_NOT_FINITE)


def test_undelivered_reports_fail_with_their_own_reason_not_metrics_missing() -> None:
    log_tail = "kubetune-runner: the program ended well but its last reports were not delivered"
    failed = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
    result = observe(trial(), job(failed), [done(lifecycle.UNDELIVERED_EXIT_CODE, log_tail)])
    assert (result.phase, result.reason) == (TrialPhase.FAILED, TrialReason.METRICS_UNDELIVERED)
    assert log_tail in result.message
    assert result.exit_code == lifecycle.UNDELIVERED_EXIT_CODE


def test_a_stopped_trial_keeps_its_final_values() -> None:
    t = trial(stop=True, pruned=True, values={"loss": 0.5}, lastStep=2)
    result = observe(t, None, [done(0, report({"loss": 0.4}, 3))])
    assert result.phase is TrialPhase.PRUNED
    assert result.recovered["values"] == {"loss": 0.4}


def test_a_failed_program_that_left_a_report_shows_no_json_as_its_output() -> None:
    failed = ("Failed", "BackoffLimitExceeded", "")
    result = observe(trial(), job(failed), [done(1, report({"loss": 0.4}, 3))])
    assert result.reason == TrialReason.ERROR
    assert _termination.MARKER not in result.message


@pytest.mark.parametrize(
    "message",
    [
        "",
        "Traceback (most recent call last):\n  ValueError: boom",
        '{"kubetune.dev/report": 2, "values": {"loss": 1}}',
        '{"kubetune.dev/report": 1, "values": [1, 2]}',
        "{kubetune.dev/report: broken",
    ],
)
def test_a_message_that_is_not_a_report_is_ignored_or_read_safely(message: str) -> None:
    found = final_report(done(0, message))
    assert found is None or found.values == {}


def test_a_report_with_odd_values_keeps_only_the_numbers() -> None:
    message = json.dumps(
        {"kubetune.dev/report": 1, "values": {"loss": 0.5, "x": "high", "b": True}, "lastStep": "9"}
    )
    found = final_report(done(0, message))
    assert found is not None
    assert dict(found.values) == {"loss": 0.5} and found.last_step is None


def test_a_verdict_with_the_final_report_at_hand_needs_no_fresh_read() -> None:
    # Without the report the Trial's status may lag its Job: the reconciler rereads it.
    assert observe(trial(values={"loss": 0.2}), job(COMPLETE), [done(0, "")]).from_metrics
    with_report = observe(trial(), job(COMPLETE), [done(0, report({"loss": 0.2}, 20))])
    assert not with_report.from_metrics
