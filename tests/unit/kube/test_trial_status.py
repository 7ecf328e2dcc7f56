"""A Trial's phase from its Job and pods: every branch of the lifecycle, on plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from kubetune.api.trial import TrialPhase
from kubetune.kube.objects import PRUNED_ANNOTATION
from kubetune.kube.trial_status import derive, gpu_seconds, status_patch

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
GPU = "nvidia.com/gpu"


def trial(stop: bool = False, pruned: bool = False, **status: Any) -> dict[str, Any]:
    annotations = {PRUNED_ANNOTATION: "true" if pruned else "false"} if stop else {}
    return {
        "metadata": {"name": "s-0", "annotations": annotations},
        "spec": {
            "study": "s",
            "index": 0,
            "parameters": {"x": 1},
            "stop": stop,
            "stopReason": "the study ended: GoalReached" if stop else None,
        },
        "status": status,
    }


def job(*conditions: tuple[str, str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "s-0"},
        "status": {
            "completionTime": "2026-01-01T11:59:50Z",
            "conditions": [
                {"type": t, "status": "True", "reason": r, "message": m} for t, r, m in conditions
            ],
        },
    }


def pod(phase: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "s-0-abcde", "creationTimestamp": "2026-01-01T11:59:00Z"},
        "spec": {"nodeName": status.pop("node", "node-0")},
        "status": {"phase": phase, **status},
    }


def terminated(code: int, reason: str = "Error", message: str = "") -> dict[str, Any]:
    return {
        "containerStatuses": [
            {
                "name": "train",
                "state": {
                    "terminated": {
                        "exitCode": code,
                        "reason": reason,
                        "message": message,
                        "startedAt": "2026-01-01T11:59:10Z",
                        "finishedAt": "2026-01-01T11:59:40Z",
                    }
                },
            }
        ]
    }


def observe(t: dict[str, Any], j: dict[str, Any] | None, pods: list[dict[str, Any]]):
    return derive(t, j, pods, ["loss"], GPU, NOW)


def test_without_a_job_the_trial_is_pending_its_creation() -> None:
    assert observe(trial(), None, []).phase is TrialPhase.PENDING


def test_unschedulable_for_lack_of_gpus_says_waiting_for_gpu_with_the_scheduler_message() -> None:
    message = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
    p = pod(
        "Pending",
        node="",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    )
    result = observe(trial(), job(), [p])
    assert (result.phase, result.reason, result.message) == (
        TrialPhase.PENDING,
        "WaitingForGPU",
        message,
    )


def test_other_unschedulable_pods_keep_the_scheduler_reason() -> None:
    message = "0/1 nodes are available: 1 Insufficient memory."
    p = pod(
        "Pending",
        node="",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
            }
        ],
    )
    assert observe(trial(), job(), [p]).reason == "Unschedulable"


def test_image_pull_errors_show_on_the_pending_trial() -> None:
    p = pod(
        "Pending",
        containerStatuses=[
            {"name": "train", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "no"}}}
        ],
    )
    result = observe(trial(), job(), [p])
    assert (result.phase, result.reason) == (TrialPhase.PENDING, "ImagePullBackOff")


def test_a_running_pod_makes_a_running_trial_with_its_start_time() -> None:
    p = pod(
        "Running",
        containerStatuses=[
            {"name": "train", "state": {"running": {"startedAt": "2026-01-01T11:59:30Z"}}}
        ],
    )
    result = observe(trial(), job(), [p])
    assert result.phase is TrialPhase.RUNNING
    assert result.start_time == datetime(2026, 1, 1, 11, 59, 30, tzinfo=UTC)


def test_complete_job_with_the_objective_reported_succeeds() -> None:
    result = observe(
        trial(values={"loss": 0.5}), job(("Complete", "", "")), [pod("Succeeded", **terminated(0))]
    )
    assert (result.phase, result.exit_code, result.from_metrics) == (TrialPhase.SUCCEEDED, 0, True)


@pytest.mark.parametrize("values", [{}, {"other": 1.0}, {"loss": float("nan")}])
def test_complete_job_without_the_objective_fails_with_metrics_missing(values) -> None:
    result = observe(
        trial(values=values), job(("Complete", "", "")), [pod("Succeeded", **terminated(0))]
    )
    assert (result.phase, result.reason) == (TrialPhase.FAILED, "MetricsMissing")
    assert "loss" in result.message


def test_failed_job_reports_the_exit_code_and_the_programs_last_output() -> None:
    j = job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
    output = "Traceback (most recent call last):\n  File 'train.py'\nValueError: bad lr\n"
    result = observe(trial(), j, [pod("Failed", **terminated(3, message=output))])
    assert (result.phase, result.reason, result.exit_code) == (TrialPhase.FAILED, "Error", 3)
    assert result.message.startswith("exited with code 3; last output:")
    assert result.message.endswith("ValueError: bad lr")


def test_an_oom_killed_container_keeps_its_reason() -> None:
    j = job(("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"))
    result = observe(trial(), j, [pod("Failed", **terminated(137, reason="OOMKilled"))])
    assert (result.phase, result.reason, result.message) == (
        TrialPhase.FAILED,
        "OOMKilled",
        "exited with code 137",
    )


def test_a_nan_objective_is_its_own_reason_with_the_value() -> None:
    t = trial(values={"loss": 0.5}, nonFiniteValues={"loss": "nan"})
    result = observe(t, job(("Complete", "", "")), [pod("Succeeded", **terminated(0))])
    assert (result.phase, result.reason) == (TrialPhase.FAILED, "ObjectiveNotFinite")
    assert "loss=nan" in result.message


def test_a_finished_pod_is_a_verdict_before_its_job_is_marked() -> None:
    """Issue 16: Running -> Pending "on node node-0" -> Succeeded flapped in that gap."""
    running = trial(phase="Running", startTime="2026-01-01T11:59:10Z", values={"loss": 0.5})
    done = observe(running, job(), [pod("Succeeded", **terminated(0))])
    assert (done.phase, done.reason, done.exit_code, done.from_metrics) == (
        TrialPhase.SUCCEEDED,
        "Completed",
        0,
        True,
    )
    no_retry = {**job(), "spec": {"backoffLimit": 0}}  # as render_job makes it
    failed = observe(trial(phase="Running"), no_retry, [pod("Failed", **terminated(1))])
    assert (failed.phase, failed.reason, failed.message) == (
        TrialPhase.FAILED,
        "Error",
        "exited with code 1",
    )


def test_a_failed_pod_the_job_will_retry_keeps_the_trial_running() -> None:
    retrying = {**job(), "spec": {"backoffLimit": 2}}
    result = observe(trial(phase="Running"), retrying, [pod("Failed", **terminated(1))])
    assert (result.phase, result.reason) == (TrialPhase.RUNNING, "Running")


def test_failed_job_without_a_pod_uses_the_job_condition_reason() -> None:
    result = observe(trial(), job(("Failed", "DeadlineExceeded", "too long")), [])
    assert (result.phase, result.reason, result.exit_code) == (
        TrialPhase.FAILED,
        "DeadlineExceeded",
        None,
    )


def test_stop_requested_and_job_done_is_stopped_whatever_the_exit_code() -> None:
    result = observe(
        trial(stop=True), job(("Complete", "", "")), [pod("Succeeded", **terminated(0))]
    )
    assert (result.phase, result.reason) == (TrialPhase.STOPPED, "StudyEnded")
    assert "GoalReached" in result.message


def test_pruned_trial_whose_job_was_deleted_is_pruned() -> None:
    result = observe(trial(stop=True, pruned=True), None, [])
    assert (result.phase, result.reason) == (TrialPhase.PRUNED, "EarlyStopped")


def test_stop_requested_while_still_running_stays_running_until_it_exits() -> None:
    p = pod(
        "Running",
        containerStatuses=[
            {"name": "train", "state": {"running": {"startedAt": "2026-01-01T11:59:30Z"}}}
        ],
    )
    assert observe(trial(stop=True), job(), [p]).phase is TrialPhase.RUNNING


def test_a_finished_phase_never_changes() -> None:
    done = trial(phase="Succeeded", reason="Completed", values={"loss": 1.0})
    result = observe(done, job(("Failed", "X", "")), [])
    assert (result.phase, result.reason) == (TrialPhase.SUCCEEDED, "Completed")


def test_latest_pod_decides_when_a_job_retried() -> None:
    old = pod("Failed", **terminated(1))
    new = pod(
        "Running",
        containerStatuses=[
            {"name": "train", "state": {"running": {"startedAt": "2026-01-01T11:59:58Z"}}}
        ],
    )
    new["metadata"] = {"name": "s-0-zzzzz", "creationTimestamp": "2026-01-01T11:59:55Z"}
    assert observe(trial(), job(), [new, old]).phase is TrialPhase.RUNNING


def test_gpu_seconds_are_gpus_times_run_time() -> None:
    result = observe(
        trial(values={"loss": 0.5}), job(("Complete", "", "")), [pod("Succeeded", **terminated(0))]
    )
    assert gpu_seconds(result, 2, NOW) == 60.0  # 11:59:10 → 11:59:40, two GPUs
    assert gpu_seconds(result, 0, NOW) == 0.0


def test_status_patch_writes_operator_fields_only_and_only_when_changed() -> None:
    t = trial(values={"loss": 0.5}, intermediate=[{"step": 1, "values": {"loss": 1}}])
    result = observe(t, job(("Complete", "", "")), [pod("Succeeded", **terminated(0))])
    patch = status_patch(t, result, 1, "loss", NOW)

    assert patch is not None
    status = patch["status"]
    assert status["phase"] == "Succeeded"
    assert status["value"] == 0.5
    assert status["gpuSeconds"] == 30.0
    assert {"values", "intermediate", "lastStep"}.isdisjoint(status)
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Running": "False",
        "Succeeded": "True",
    }
    written = {**t, "status": {**t["status"], **status}}
    assert (
        status_patch(written, observe(written, job(("Complete", "", "")), []), 1, "loss", NOW)
        is None
    )


def test_a_new_trial_waiting_for_its_pod_is_not_written_but_a_pod_reason_is() -> None:
    fresh = trial()
    waiting = observe(fresh, job(), [])
    assert waiting.reason == "WaitingForPod"
    assert status_patch(fresh, waiting, 1, "loss", NOW) is None

    unschedulable = pod(
        "Pending",
        node=None,
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.",
            }
        ],
    )
    patch = status_patch(fresh, observe(fresh, job(), [unschedulable]), 1, "loss", NOW)
    assert patch is not None and patch["status"]["reason"] == "WaitingForGPU"

    reported_first = trial(values={"loss": 0.5}, lastStep=1)  # the runner's patch came first
    assert status_patch(reported_first, observe(reported_first, job(), []), 1, "loss", NOW) is None

    seen_before = trial(phase="Pending", reason="Scheduling")  # e.g. its pod was deleted
    patch = status_patch(seen_before, observe(seen_before, job(), []), 1, "loss", NOW)
    assert patch is not None and patch["status"]["reason"] == "WaitingForPod"


def test_a_job_that_cannot_create_its_pod_says_why() -> None:
    quota = 'Error creating: pods "s-0-x" is forbidden: exceeded quota: q, requested: pods=1'
    result = derive(trial(), job(), [], ["loss"], GPU, NOW, failed_create=quota)
    assert (result.phase, result.reason, result.message) == (
        TrialPhase.PENDING,
        "QuotaExceeded",
        quota,
    )
    webhook = 'Error creating: admission webhook "w" denied the request'
    assert derive(trial(), job(), [], ["loss"], GPU, NOW, failed_create=webhook).reason == (
        "FailedCreate"
    )
    running = derive(trial(), job(), [pod("Running")], ["loss"], GPU, NOW, failed_create=quota)
    assert running.phase is TrialPhase.RUNNING  # an old Event does not outlive the pod
