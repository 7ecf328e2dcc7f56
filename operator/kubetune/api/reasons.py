"""Why a trial is in its phase: the ``reason`` of a Trial's status and of a local trial.

One enum, so the operator, ``kubetune run``, the docs and the tests name the same reasons and
no code compares a reason against a string literal. The values are CamelCase, as Kubernetes
API conventions ask for ``reason`` fields, and they are what ``kubectl get trials`` and
``trial.json`` show.

A Pending trial may also carry a reason Kubernetes itself gave (a scheduler or container
waiting reason this enum does not list, e.g. ``SchedulerError``); those are shown as they
come, so a reason field is typed ``str`` where it holds an observation.
"""

from __future__ import annotations

import enum


class TrialReason(enum.StrEnum):
    # -- finished ---------------------------------------------------------------------------
    COMPLETED = "Completed"
    """Exited 0 and reported every objective as a finite number."""
    METRICS_MISSING = "MetricsMissing"
    """Exited 0 but never reported an objective."""
    METRICS_UNDELIVERED = "MetricsUndelivered"
    """Exited 0, but its runner could deliver its last reports neither to the Trial nor as
    the termination message (runner exit 75): its values are unknown, not missing."""
    OBJECTIVE_NOT_FINITE = "ObjectiveNotFinite"
    """Exited 0 but the latest report of an objective was NaN or infinite."""
    ERROR = "Error"
    """Exited with a non-zero code (the container runtime's word for it)."""
    OOM_KILLED = "OOMKilled"
    """Killed for using more memory than its limit (cluster)."""
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    """The Job's activeDeadlineSeconds passed (cluster)."""
    JOB_FAILED = "JobFailed"
    """The Job failed and neither its pod nor its condition said why (cluster)."""
    EARLY_STOPPED = "EarlyStopped"
    """Pruned by a stopping rule or a scheduler (ASHA, Hyperband)."""
    STUDY_ENDED = "StudyEnded"
    """Stopped because the study ended (goal reached, budget spent, deleted)."""
    POD_LOST = "PodLost"
    """Pending: the trial's pod was lost (killed from outside, deleted, its node gone) and the
    trial runs again; Failed: it was lost more often than the operator retries."""
    START_ERROR = "StartError"
    """The trial's command could not be started (local)."""
    # -- pending ----------------------------------------------------------------------------
    CREATING_JOB = "CreatingJob"
    WAITING_FOR_POD = "WaitingForPod"
    WAITING_FOR_GPU = "WaitingForGPU"
    """The scheduler found no node with a free GPU of the requested resource."""
    UNSCHEDULABLE = "Unschedulable"
    QUOTA_EXCEEDED = "QuotaExceeded"
    FAILED_CREATE = "FailedCreate"
    SCHEDULING = "Scheduling"
    CONTAINER_CREATING = "ContainerCreating"
    ERR_IMAGE_PULL = "ErrImagePull"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    INVALID_IMAGE_NAME = "InvalidImageName"
    CREATE_CONTAINER_CONFIG_ERROR = "CreateContainerConfigError"
    CREATE_CONTAINER_ERROR = "CreateContainerError"
    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    STOPPING = "Stopping"
    """Asked to stop; its Job has not ended yet."""
    # -- running ----------------------------------------------------------------------------
    RUNNING = "Running"

    @classmethod
    def known(cls, text: str | None) -> TrialReason | None:
        """The member named ``text`` (a reason Kubernetes reported), or None."""
        return cls._value2member_map_.get(text or "")  # type: ignore[return-value]


FAILURE_REASONS = frozenset(
    {TrialReason.ERROR, TrialReason.OOM_KILLED, TrialReason.DEADLINE_EXCEEDED}
)
"""Reasons a container runtime or Job gives for a failed run that we keep as they are."""

POD_WAITING_REASONS = frozenset(
    {
        TrialReason.ERR_IMAGE_PULL,
        TrialReason.IMAGE_PULL_BACK_OFF,
        TrialReason.INVALID_IMAGE_NAME,
        TrialReason.CREATE_CONTAINER_CONFIG_ERROR,
        TrialReason.CREATE_CONTAINER_ERROR,
        TrialReason.CRASH_LOOP_BACK_OFF,
    }
)
"""Container waiting reasons worth showing on a Pending trial as they are."""
