"""A Trial's phase, derived from what the cluster shows: its Job, the Job's pods, its own status.

Pure functions over plain dicts (objects as the API returns them), so every rule of the
trial lifecycle is unit-tested without a cluster:

- Pending while no pod runs, with the pod's reason: ``WaitingForGPU`` (the scheduler's
  "Insufficient nvidia.com/gpu"), ``Unschedulable``, ``ImagePullBackOff`` and the like; or,
  with no pod, why the Job could not create one (``QuotaExceeded``, ``FailedCreate``, read
  from the Job controller's Event by ``job_events``);
- Running while a pod runs;
- finished as soon as the pod is (the Job is marked complete or failed a moment later and
  the phase never flaps back to Pending in that gap), unless the Job will retry the pod;
- Pending again (``PodLost``) when its pod was lost rather than failed — killed from outside,
  evicted, deleted — up to ``max_pod_retries`` times: the operator counts the loss in
  ``status.retries`` (with the lost Job's uid, so it is counted once), then deletes the Job,
  which is created again for the same trial;
- finished once the Job is, or once a trial asked to stop has no running pod left: the
  verdict (phase, reason, message) is ``kubetune.lifecycle.verdict`` over what was observed
  here — exit code, reported values, the termination message, the stop request — the same
  function ``kubetune run`` calls, so both backends end a trial the same way.

A finished phase never changes again. The operator writes only the fields built here; the
runner owns ``values``, ``intermediate`` and ``lastStep`` — except for its final report.
A runner whose pod ended while the API server did not answer writes its final values, last
step and report count as the container's termination message (a JSON object marked with
``TERMINATION_REPORT_KEY``); the kubelet puts it in the pod's status. When that report holds
values the Trial's status lacks, the verdict is made from the report and the operator writes
them to the status (``Observation.recovered``), so a trial is never scored from a partial
report.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubetune import lifecycle
from kubetune.api.reasons import FAILURE_REASONS, POD_WAITING_REASONS, TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.kube.objects import PRUNED_ANNOTATION

JOB_DEFAULT_BACKOFF_LIMIT = 6
"""Kubernetes' ``backoffLimit`` when a Job does not set one (``render_job`` sets 0)."""

UNWRITTEN_PENDING_REASONS = frozenset({TrialReason.CREATING_JOB, TrialReason.WAITING_FOR_POD})
"""Pending reasons not worth a first status write: a Trial without status is Pending by
definition, and these pass within a second. Skipping them saves one write per new trial,
which in a burst of thousands of new trials would delay the launch of successors. Skipped
also when the runner's reports came first (a status with values but no phase): seen while
the Job's completion was still on its way, the write was an extra PATCH per completion."""


TERMINATION_REPORT_KEY = "kubetune.dev/report"
"""Marks a termination message as the runner's final report (``kubetune_runner._termination``);
its value is the format version."""
TERMINATION_REPORT_VERSION = 1


@dataclass(frozen=True)
class Observation:
    """What the cluster says about one trial right now."""

    phase: TrialPhase
    reason: str
    """A ``TrialReason``, or a Pending reason Kubernetes gave that the enum does not list."""
    message: str = ""
    exit_code: int | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    from_metrics: bool = False
    """The verdict read reported metrics from the Trial's status alone: confirm with a fresh
    read before recording it. Not when the pod's termination message holds the runner's final
    report: that is the last state whatever the Trial's watch has shown yet, so a completion
    costs no GET (the common case on a busy cluster)."""
    retry: bool = False
    """The pod was lost and the trial is to run again: delete its Job (it is recreated) and
    count the loss in ``status.retries`` (``lost_pod_retry``)."""
    retries: int = 0
    """With ``retry``: ``status.retries`` counting this loss, once however often it is seen."""
    lost_job: str = ""
    """With ``retry``: the uid of the Job whose pod was lost ("" when the Job is gone already),
    recorded as ``status.lostJob`` with the count, so that seeing the same Job again (an
    operator killed before it deleted the Job, a cache that still shows it) counts nothing."""
    recovered: Mapping[str, Any] = field(default_factory=dict)
    """Runner-owned status fields (``values``, ``nonFiniteValues``, ``lastStep``) taken from
    the pod's termination message because the Trial's status lacked them."""


@dataclass(frozen=True)
class FinalReport:
    """The runner's final report, from its container's termination message."""

    values: Mapping[str, float]
    non_finite: Mapping[str, str]
    last_step: int | None


def final_report(pod: Mapping[str, Any] | None) -> FinalReport | None:
    """The report in the pod's termination message, or None (none, or the end of a log)."""
    message = (_terminated(pod) or {}).get("message") or ""
    if TERMINATION_REPORT_KEY not in message:
        return None
    try:
        report = json.loads(message)
    except ValueError:
        return None
    if not isinstance(report, dict) or report.get(TERMINATION_REPORT_KEY) != 1:
        return None
    values = report.get("values")
    values = values if isinstance(values, dict) else {}
    non_finite = report.get("nonFiniteValues")
    step = report.get("lastStep")
    return FinalReport(
        {k: float(v) for k, v in values.items() if lifecycle.is_finite(v)},
        {k: str(v) for k, v in non_finite.items()} if isinstance(non_finite, dict) else {},
        step if isinstance(step, int) and not isinstance(step, bool) else None,
    )


def recovered_fields(status: Mapping[str, Any], report: FinalReport | None) -> dict[str, Any]:
    """The runner-owned status fields the report adds to ``status``; empty when the status
    already holds it all, or holds a later step (a newer run delivered after it)."""
    if report is None:
        return {}
    shown_step = status.get("lastStep")
    if _later_step(shown_step, report.last_step):
        return {}
    values = dict(status.get("values") or {})
    non_finite = dict(status.get("nonFiniteValues") or {})
    merged_values = {**values, **report.values}
    merged_non_finite = {
        **{k: v for k, v in non_finite.items() if k not in report.values},
        **report.non_finite,
    }
    fields: dict[str, Any] = {}
    if merged_values != values:
        fields["values"] = merged_values
    if merged_non_finite != non_finite:
        cleared: dict[str, str | None] = dict.fromkeys(non_finite.keys() - merged_non_finite)
        fields["nonFiniteValues"] = {**cleared, **merged_non_finite}
    if report.last_step is not None and report.last_step != shown_step and fields:
        fields["lastStep"] = report.last_step
    return fields


def _later_step(shown: object, reported: int | None) -> bool:
    """Whether the status shows a later step than the report (a newer run delivered)."""
    return isinstance(shown, int) and reported is not None and shown > reported


def reported(status: Mapping[str, Any], recovered: Mapping[str, Any]) -> dict[str, Any]:
    """``status`` with the recovered fields in place (cleared non-finite names removed)."""
    merged = {**status, **recovered}
    if "nonFiniteValues" in recovered:
        merged["nonFiniteValues"] = {
            k: v for k, v in recovered["nonFiniteValues"].items() if v is not None
        }
    return merged


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def format_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_conditions(job: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The Job's conditions that are True, by type."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return {c["type"]: c for c in conditions if c.get("status") == "True"}


def job_finished(job: Mapping[str, Any] | None) -> bool:
    if job is None:
        return False
    done = job_conditions(job).keys() & {
        "Complete",
        "Failed",
        "SuccessCriteriaMet",
        "FailureTarget",
    }
    return bool(done)


def latest_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not pods:
        return None
    return max(
        pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"])
    )


def pod_running(pod: Mapping[str, Any] | None) -> bool:
    return pod is not None and (pod.get("status") or {}).get("phase") == "Running"


def derive(
    trial: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    objective_metrics: Sequence[str],
    gpu_resource: str,
    now: datetime,
    failed_create: str | None = None,
    max_pod_retries: int = 0,
) -> Observation:
    """``failed_create``: the message of the Job's latest FailedCreate Event, if any;
    ``max_pod_retries``: how often a trial whose pod was lost runs again."""
    if _job_deleted_while_running(trial, job):
        gone = Observation(TrialPhase.FAILED, TrialReason.POD_LOST, JOB_DELETED_MESSAGE)
        return lost_pod_retry(trial, gone, max_pod_retries)
    pods = _of_job(pods, job)
    observed = _derive(trial, job, pods, objective_metrics, gpu_resource, now, failed_create)
    if observed.phase is TrialPhase.FAILED and _lost(trial, job, pods):
        uid = str(((job or {}).get("metadata") or {}).get("uid") or "")
        return lost_pod_retry(trial, observed, max_pod_retries, uid)
    return observed


JOB_DELETED_MESSAGE = "its Job was deleted while the trial ran"


def _job_deleted_while_running(trial: Mapping[str, Any], job: Mapping[str, Any] | None) -> bool:
    """The Trial's status says it ran, yet its Job is gone and no stop was asked for: someone
    (a user, a cleanup script) deleted the Job. Its pod goes with it, so this is a lost pod:
    the Job is created again for the same trial and ``status.retries`` counts it. A Job
    never created (the operator died between the two creates) leaves the Trial Pending."""
    running = (trial.get("status") or {}).get("phase") == TrialPhase.RUNNING
    return job is None and running and not (trial.get("spec") or {}).get("stop")


LOST_EXIT_CODES = frozenset({137, 143})
"""SIGKILL and SIGTERM: what a container gets when its node, kubelet or someone else ends it."""
LOST_POD_REASONS = frozenset(
    {"NodeAgentRestarted", "ContainerStatusUnknown", "Evicted", "NodeLost", "Shutdown"}
)
"""Pod or container reasons that say the pod was lost rather than that the program failed."""


def _lost(
    trial: Mapping[str, Any], job: Mapping[str, Any] | None, pods: Sequence[Mapping[str, Any]]
) -> bool:
    """Whether the trial failed because its pod was lost, not because of its program."""
    if (trial.get("status") or {}).get("phase") in (TrialPhase.FAILED, TrialPhase.SUCCEEDED):
        return False  # a recorded verdict stands
    failure = job_conditions(job or {}).get("Failed") or {}
    if failure.get("reason") == "DeadlineExceeded":
        return False
    pod = latest_pod(pods)
    if pod is None:
        return job is not None and bool(failure)  # its pod was deleted: the Job failed for it
    terminated = _terminated(pod) or {}
    reasons = {terminated.get("reason"), (pod.get("status") or {}).get("reason")}
    if reasons & LOST_POD_REASONS:
        return True
    return terminated.get("exitCode") in LOST_EXIT_CODES and "OOMKilled" not in reasons


def lost_pod_retry(
    trial: Mapping[str, Any], failed: Observation, max_pod_retries: int, lost_job: str = ""
) -> Observation:
    """Run the trial again (Pending, ``PodLost``), or fail it once it was lost too often.

    ``lost_job``: the uid of the Job whose pod was lost. A loss is counted in the Trial's
    status before its Job is deleted; if the status already names this Job (``lostJob``),
    this loss is counted there, so the count stays what it is whatever happens between the
    two writes."""
    status = trial.get("status") or {}
    counted = bool(lost_job) and status.get(LOST_JOB_FIELD) == lost_job
    retries = int(status.get("retries") or 0) - (1 if counted else 0)
    if retries >= max_pod_retries:
        message = f"its pod was lost {retries + 1} times (at most {max_pod_retries} retries)"
        return Observation(
            TrialPhase.FAILED,
            TrialReason.POD_LOST,
            f"{message}; last time: {failed.message}",
            failed.exit_code,
            failed.start_time,
            failed.completion_time,
        )
    return Observation(
        TrialPhase.PENDING,
        TrialReason.POD_LOST,
        f"its pod was lost ({failed.message.splitlines()[0] if failed.message else 'deleted'}): "
        f"running the trial again, retry {retries + 1} of {max_pod_retries}",
        retry=True,
        retries=retries + 1,
        lost_job=lost_job,
    )


LOST_JOB_FIELD = "lostJob"
"""The Trial status field naming the Job whose lost pod ``retries`` counted last."""


def _of_job(
    pods: Sequence[Mapping[str, Any]], job: Mapping[str, Any] | None
) -> list[Mapping[str, Any]]:
    """The pods of this Job: a retried trial's lost pod may linger until it is collected."""
    uid = (job or {}).get("metadata", {}).get("uid")
    if not uid:
        return list(pods)
    return [
        pod
        for pod in pods
        if not (pod["metadata"].get("ownerReferences"))
        or any(ref.get("uid") == uid for ref in pod["metadata"]["ownerReferences"])
    ]


def _derive(
    trial: Mapping[str, Any],
    job: Mapping[str, Any] | None,
    pods: Sequence[Mapping[str, Any]],
    objective_metrics: Sequence[str],
    gpu_resource: str,
    now: datetime,
    failed_create: str | None,
) -> Observation:
    status = trial.get("status") or {}
    spec = trial.get("spec") or {}
    current = TrialPhase(status.get("phase") or TrialPhase.PENDING)
    started = parse_time(status.get("startTime"))
    if current.is_finished():
        return Observation(
            current,
            status.get("reason") or "",
            status.get("message") or "",
            status.get("exitCode"),
            started,
            parse_time(status.get("completionTime")),
        )
    pod = latest_pod(pods)
    started = started or _pod_start(pod)
    if spec.get("stop") and (job is None or job_finished(job) or pod_finished(pod)):
        pruned = (trial["metadata"].get("annotations") or {}).get(PRUNED_ANNOTATION) == "true"
        ended = lifecycle.stopped(pruned, spec.get("stopReason") or "")
        finished = _finish_time(job, pod) or now
        recovered = recovered_fields(status, final_report(pod)) if pod_finished(pod) else {}
        return Observation(
            ended.phase,
            ended.reason,
            ended.message,
            _exit_code(pod),
            started,
            finished,
            recovered=recovered,
        )
    if job is None:
        return Observation(
            TrialPhase.PENDING, TrialReason.CREATING_JOB, "the trial's Job is being created"
        )
    conditions = job_conditions(job)
    if "Complete" in conditions or "SuccessCriteriaMet" in conditions:
        return _completed(status, objective_metrics, pod, started, _finish_time(job, pod) or now)
    failure = conditions.get("Failed") or conditions.get("FailureTarget")
    if failure is not None:
        return _failed(failure, pod, objective_metrics, started, _finish_time(job, pod) or now)
    if pod_finished(pod) and not _retry_coming(job, pods):
        # The Job is marked complete or failed a moment after its pod ends; decide now
        # rather than show a phase the trial is no longer in (it used to flap to Pending).
        finished = _finish_time(job, pod) or now
        if _pod_phase(pod) == "Succeeded":
            return _completed(status, objective_metrics, pod, started, finished)
        return _failed({}, pod, objective_metrics, started, finished)
    if pod_running(pod) or pod_finished(pod):  # a finished pod whose retry is coming
        return Observation(TrialPhase.RUNNING, TrialReason.RUNNING, "", None, started)
    if spec.get("stop"):
        return Observation(TrialPhase.PENDING, TrialReason.STOPPING, spec.get("stopReason") or "")
    return _pending(pod, gpu_resource, failed_create)


def _completed(
    status: Mapping[str, Any],
    objective_metrics: Sequence[str],
    pod: Mapping[str, Any] | None,
    started: datetime | None,
    finished: datetime,
) -> Observation:
    exit_code = _exit_code(pod)
    report = final_report(pod)
    recovered = recovered_fields(status, report)
    final = reported(status, recovered)
    ended = lifecycle.Ended(
        exit_code=0,  # a complete Job's pod succeeded, even if it is gone by now
        values=final.get("values") or {},
        non_finite=final.get("nonFiniteValues") or {},
    )
    result = lifecycle.verdict(ended, objective_metrics)
    return Observation(
        result.phase,
        result.reason,
        result.message,
        exit_code,
        started,
        finished,
        from_metrics=report is None,
        recovered=recovered,
    )


def _failed(
    condition: Mapping[str, Any],
    pod: Mapping[str, Any] | None,
    objective_metrics: Sequence[str],
    started: datetime | None,
    finished: datetime,
) -> Observation:
    code = _exit_code(pod)
    terminated = _terminated(pod) or {}
    reason = _failure_reason(terminated.get("reason")) or _failure_reason(condition.get("reason"))
    ended = lifecycle.Ended(
        exit_code=code or None,  # a failed Job whose container exited 0 failed for its own reason
        # A program that reported itself and then exited non-zero leaves its report, not its log.
        output="" if final_report(pod) else terminated.get("message") or "",
        failure_reason=reason or (TrialReason.ERROR if code else TrialReason.JOB_FAILED),
        failure_detail=condition.get("message") or "",
    )
    result = lifecycle.verdict(ended, objective_metrics)
    return Observation(result.phase, result.reason, result.message, code, started, finished)


def _failure_reason(text: str | None) -> TrialReason | None:
    reason = TrialReason.known(text)
    return reason if reason in FAILURE_REASONS else None


def _pending(
    pod: Mapping[str, Any] | None, gpu_resource: str, failed_create: str | None
) -> Observation:
    if pod is None and failed_create:
        quota = "exceeded quota" in failed_create
        cause = TrialReason.QUOTA_EXCEEDED if quota else TrialReason.FAILED_CREATE
        return Observation(TrialPhase.PENDING, cause, failed_create)
    if pod is None:
        return Observation(
            TrialPhase.PENDING, TrialReason.WAITING_FOR_POD, "the Job has not created a pod yet"
        )
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = condition.get("message") or ""
            reason: str = condition.get("reason") or TrialReason.UNSCHEDULABLE
            gpus_short = f"Insufficient {gpu_resource}" in message
            if TrialReason.known(reason) is TrialReason.UNSCHEDULABLE and gpus_short:
                reason = TrialReason.WAITING_FOR_GPU
            # A scheduler reason the enum does not list is shown as the scheduler gave it.
            return Observation(TrialPhase.PENDING, TrialReason.known(reason) or reason, message)
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        waiting_reason = TrialReason.known(waiting.get("reason"))
        if waiting_reason in POD_WAITING_REASONS:
            return Observation(
                TrialPhase.PENDING, str(waiting_reason), waiting.get("message") or ""
            )
    if not pod["spec"].get("nodeName"):
        return Observation(TrialPhase.PENDING, TrialReason.SCHEDULING, "waiting for the scheduler")
    return Observation(
        TrialPhase.PENDING, TrialReason.CONTAINER_CREATING, f"on node {pod['spec']['nodeName']}"
    )


def _terminated(pod: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The terminated state of the pod's first container that has one (the primary, usually)."""
    if pod is None:
        return None
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            return dict(terminated)
    return None


def _exit_code(pod: Mapping[str, Any] | None) -> int | None:
    terminated = _terminated(pod)
    return None if terminated is None else terminated.get("exitCode")


def _pod_phase(pod: Mapping[str, Any] | None) -> str | None:
    return None if pod is None else (pod.get("status") or {}).get("phase")


def pod_finished(pod: Mapping[str, Any] | None) -> bool:
    """The pod ended (its Job is marked complete or failed a moment later)."""
    return _pod_phase(pod) in ("Succeeded", "Failed")


def _retry_coming(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the Job will start another pod after a failed one (a user's backoffLimit)."""
    if _pod_phase(latest_pod(pods)) != "Failed":
        return False
    failed = sum(1 for pod in pods if _pod_phase(pod) == "Failed")
    return failed <= int((job.get("spec") or {}).get("backoffLimit", JOB_DEFAULT_BACKOFF_LIMIT))


def _pod_start(pod: Mapping[str, Any] | None) -> datetime | None:
    if pod is None or (pod.get("status") or {}).get("phase") == "Pending":
        return None
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        state = container.get("state") or {}
        for key in ("running", "terminated"):
            if (state.get(key) or {}).get("startedAt"):
                return parse_time(state[key]["startedAt"])
    return parse_time((pod.get("status") or {}).get("startTime"))


def _finish_time(job: Mapping[str, Any] | None, pod: Mapping[str, Any] | None) -> datetime | None:
    terminated = _terminated(pod)
    if terminated and terminated.get("finishedAt"):
        return parse_time(terminated["finishedAt"])
    if job is not None and (job.get("status") or {}).get("completionTime"):
        return parse_time(job["status"]["completionTime"])
    return None


def gpu_seconds(observation: Observation, gpus: float, now: datetime) -> float:
    """GPUs held × time run; for a running trial, up to ``now``.

    ``gpus`` is the trial's share in physical GPUs (``ResourcesSpec.gpu_share``): a MIG slice
    or a time-sliced replica counts its fraction, not a whole device.
    """
    if gpus <= 0 or observation.start_time is None:
        return 0.0
    end = observation.completion_time or now
    return round(gpus * max(0.0, (end - observation.start_time).total_seconds()), 3)


def desired_status(
    trial: Mapping[str, Any],
    observation: Observation,
    gpus: float,
    objective_metric: str,
    now: datetime,
) -> dict[str, Any]:
    """The operator-owned status fields for ``observation`` (never the runner's)."""
    status = reported(trial.get("status") or {}, observation.recovered)
    value = (status.get("values") or {}).get(objective_metric)
    phase = observation.phase
    desired: dict[str, Any] = {
        **observation.recovered,
        **(
            {"retries": observation.retries, LOST_JOB_FIELD: observation.lost_job or None}
            if observation.retry
            else {}
        ),
        "phase": str(phase),
        "reason": observation.reason,
        "message": lifecycle.bounded_message(observation.message),
        "exitCode": observation.exit_code,
        "startTime": format_time(observation.start_time),
        "completionTime": format_time(observation.completion_time),
        "gpuSeconds": gpu_seconds(observation, gpus, now) if phase.is_finished() else 0.0,
        "value": value if lifecycle.is_finite(value) else None,
    }
    wanted = [(str(TrialPhase.RUNNING), phase is TrialPhase.RUNNING, observation.reason, "")]
    if phase.is_finished():
        wanted.append(
            (str(phase), True, observation.reason, lifecycle.bounded_message(observation.message))
        )
    desired["conditions"] = _conditions(status.get("conditions") or [], wanted, now)
    return desired


def status_patch(
    trial: Mapping[str, Any],
    observation: Observation,
    gpus: float,
    objective_metric: str,
    now: datetime,
) -> dict[str, Any] | None:
    """A merge patch of the status subresource, or None when nothing the operator owns changed."""
    status = trial.get("status") or {}
    if (
        not status.get("phase")  # never written by the operator (the runner's values may be)
        and observation.phase is TrialPhase.PENDING
        and observation.reason in UNWRITTEN_PENDING_REASONS
    ):
        return None
    desired = desired_status(trial, observation, gpus, objective_metric, now)
    changed = {k: v for k, v in desired.items() if status.get(k) != v}
    if not changed:
        return None
    return {"status": changed}


def _conditions(
    existing: Sequence[Mapping[str, Any]],
    wanted: Sequence[tuple[str, bool, str, str]],
    now: datetime,
) -> list[dict[str, Any]]:
    by_type = {c.get("type"): c for c in existing}
    result = []
    for type_, true, reason, message in wanted:
        status = "True" if true else "False"
        old = by_type.get(type_)
        moment = (
            old["lastTransitionTime"] if old and old.get("status") == status else format_time(now)
        )
        result.append(
            {
                "type": type_,
                "status": status,
                "reason": reason or type_,
                "message": message,
                "lastTransitionTime": moment,
            }
        )
    return result
