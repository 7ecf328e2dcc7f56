"""The reasons of the Kubernetes Events the operator posts on a study, in one place.

``kubectl describe tuningstudy`` and ``kubectl get events --field-selector reason=...``
show them; docs/operator.md lists them. Posting lives in ``kube/events.py``.
"""

from __future__ import annotations

import enum


class EventType(enum.StrEnum):
    """The ``type`` of a Kubernetes Event."""

    NORMAL = "Normal"
    WARNING = "Warning"


class EventReason(enum.StrEnum):
    STARTED = "Started"
    """The study's first reconcile: the search begins."""
    BEST_TRIAL_IMPROVED = "BestTrialImproved"
    """Another trial became the best one."""
    INVALID_SPEC = "InvalidSpec"
    """The spec cannot be run (a Warning; the message names the field)."""
    WARM_START_UNAVAILABLE = "WarmStartUnavailable"
    """The study waits for a warm-start source (a Warning; the message names the field)."""
    STUDY_SUCCEEDED = "StudySucceeded"
    """The study ended well: goal reached, budget spent, space exhausted, timed out."""
    STUDY_FAILED = "StudyFailed"
    """The study ended badly, e.g. too many failed trials (a Warning)."""
    CHECKPOINT_CLAIM_MISSING = "CheckpointClaimMissing"
    """The checkpoint claim does not exist, so no trial is launched (a Warning)."""
    TRIAL_DELETED = "TrialDeleted"
    """A Trial of the study was deleted by hand (a Warning: a result or a run is gone); the
    message names it and what happens next."""

    @property
    def event_type(self) -> EventType:
        """Warning for the reasons that ask a person to look, Normal for the rest."""
        warnings = (
            EventReason.INVALID_SPEC,
            EventReason.STUDY_FAILED,
            EventReason.CHECKPOINT_CLAIM_MISSING,
            EventReason.WARM_START_UNAVAILABLE,
            EventReason.TRIAL_DELETED,
        )
        return EventType.WARNING if self in warnings else EventType.NORMAL
