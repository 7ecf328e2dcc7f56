"""A lost pod is retried as the same trial, up to a limit, and never counted as a failure."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.api.reasons import TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.kube.trial_status import derive, status_patch
from tests.unit.kube.test_trial_status import GPU, NOW, job, pod, terminated, trial

FAILED = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")


def owned(p: dict[str, Any], uid: str = "job-1") -> dict[str, Any]:
    p["metadata"]["ownerReferences"] = [{"kind": "Job", "uid": uid}]
    return p


def failed_job() -> dict[str, Any]:
    j = job(FAILED)
    j["metadata"]["uid"] = "job-1"
    return j


def observe(t: dict[str, Any], pods: list[dict[str, Any]], retries: int = 2):
    return derive(t, failed_job(), pods, ["loss"], GPU, NOW, max_pod_retries=retries)


@pytest.mark.parametrize(
    "lost",
    [
        owned(pod("Failed", **terminated(137))),
        owned(pod("Failed", **terminated(143))),
        owned(pod("Failed", **terminated(137, "NodeAgentRestarted"))),
        owned(pod("Failed", reason="Evicted", **terminated(1))),
    ],
    ids=["sigkill", "sigterm", "node-agent-restarted", "evicted"],
)
def test_a_lost_pod_runs_the_trial_again(lost: dict[str, Any]) -> None:
    t = trial()
    result = observe(t, [lost])
    assert (result.phase, result.reason, result.retry) == (
        TrialPhase.PENDING,
        TrialReason.POD_LOST,
        True,
    )
    patch = status_patch(t, result, 0, "loss", NOW)
    assert patch is not None and patch["status"]["retries"] == 1
    assert patch["status"]["phase"] == "Pending"


def test_a_deleted_pod_runs_the_trial_again() -> None:
    assert observe(trial(), []).retry


@pytest.mark.parametrize(
    "failed",
    [
        owned(pod("Failed", **terminated(1))),
        owned(pod("Failed", **terminated(137, "OOMKilled"))),
    ],
    ids=["program-error", "oom-killed"],
)
def test_a_program_failure_is_a_failure(failed: dict[str, Any]) -> None:
    result = observe(trial(), [failed])
    assert result.phase is TrialPhase.FAILED and not result.retry


def test_a_trial_lost_too_often_fails_as_pod_lost() -> None:
    result = observe(trial(retries=2), [owned(pod("Failed", **terminated(137)))])
    assert (result.phase, result.reason, result.retry) == (
        TrialPhase.FAILED,
        TrialReason.POD_LOST,
        False,
    )
    assert "lost 3 times" in result.message


def test_without_retries_a_lost_pod_fails() -> None:
    result = observe(trial(), [owned(pod("Failed", **terminated(137)))], retries=0)
    assert result.phase is TrialPhase.FAILED


def test_a_stopped_trial_killed_for_it_is_not_lost() -> None:
    t = trial(stop=True, pruned=True)
    result = observe(t, [owned(pod("Failed", **terminated(143)))])
    assert result.phase is TrialPhase.PRUNED and not result.retry


def test_the_lost_pod_of_an_earlier_job_is_not_the_new_jobs() -> None:
    new_job = job()
    new_job["metadata"]["uid"] = "job-2"
    old = owned(pod("Failed", **terminated(137)), uid="job-1")
    result = derive(trial(retries=1), new_job, [old], ["loss"], GPU, NOW, max_pod_retries=2)
    assert (result.phase, result.retry) == (TrialPhase.PENDING, False)
    assert result.reason == TrialReason.WAITING_FOR_POD


def test_a_running_trial_whose_job_was_deleted_runs_again() -> None:
    t = trial(phase="Running", startTime="2026-01-01T11:59:00Z")
    result = derive(t, None, [], ["loss"], GPU, NOW, max_pod_retries=2)
    assert (result.phase, result.reason, result.retry) == (
        TrialPhase.PENDING,
        TrialReason.POD_LOST,
        True,
    )
    assert "Job was deleted" in result.message
    patch = status_patch(t, result, 0, "loss", NOW)
    assert patch is not None and patch["status"]["retries"] == 1


def test_a_trial_whose_job_is_deleted_too_often_fails_as_pod_lost() -> None:
    t = trial(phase="Running", retries=2)
    result = derive(t, None, [], ["loss"], GPU, NOW, max_pod_retries=2)
    assert (result.phase, result.reason) == (TrialPhase.FAILED, TrialReason.POD_LOST)


@pytest.mark.parametrize(
    "t",
    [trial(), trial(phase="Pending"), trial(stop=True, phase="Running")],
    ids=["job-not-created-yet", "pending", "asked-to-stop"],
)
def test_a_missing_job_is_not_a_deletion_unless_the_trial_ran(t: dict[str, Any]) -> None:
    assert not derive(t, None, [], ["loss"], GPU, NOW, max_pod_retries=2).retry


def test_a_loss_is_recorded_with_its_jobs_uid() -> None:
    t = trial(phase="Running")
    result = observe(t, [owned(pod("Failed", **terminated(137)))])
    patch = status_patch(t, result, 0, "loss", NOW)
    assert patch is not None
    assert (patch["status"]["retries"], patch["status"]["lostJob"]) == (1, "job-1")


@pytest.mark.parametrize("seen", [1, 2, 3])
def test_a_loss_already_counted_for_this_job_is_not_counted_again(seen: int) -> None:
    """The operator counts a loss, then deletes the Job; killed in between (or shown the Job
    again by its cache) it sees the same lost Job once more: still one retry."""
    t = trial(phase="Running")
    lost = [owned(pod("Failed", **terminated(137)))]
    for _ in range(seen):
        result = observe(t, lost)
        patch = status_patch(t, result, 0, "loss", NOW)
        t["status"].update(patch["status"] if patch else {})
    assert (t["status"]["retries"], t["status"]["lostJob"], t["status"]["phase"]) == (
        1,
        "job-1",
        "Pending",
    )
    assert result.retry and "retry 1 of 2" in result.message
    if seen > 1:
        assert patch is None  # nothing left to write


def test_a_later_jobs_loss_counts_again() -> None:
    t = trial(phase="Running", retries=1, lostJob="job-0")
    result = observe(t, [owned(pod("Failed", **terminated(137)))])
    assert (result.retries, result.lost_job) == (2, "job-1")


def test_the_last_allowed_loss_seen_again_still_retries() -> None:
    """Counted as retry 2 of 2 before its Job went: seeing that Job again is not a third loss."""
    t = trial(phase="Pending", reason="PodLost", retries=2, lostJob="job-1")
    result = observe(t, [owned(pod("Failed", **terminated(137)))])
    assert (result.phase, result.retry, result.retries) == (TrialPhase.PENDING, True, 2)
