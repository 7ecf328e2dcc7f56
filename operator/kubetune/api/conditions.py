"""Status conditions in the shape Kubernetes API conventions ask for (metav1.Condition).

A condition is keyed by ``type``; tools like ``kubectl wait --for=condition=Succeeded`` read
them, so they follow the upstream field names exactly.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from pydantic import Field

from kubetune.api._base import KubeModel


class ConditionType(enum.StrEnum):
    """The ``type`` of a condition on a TuningStudy or a Trial.

    ``Running`` is true while work goes on; a finished object also carries a true condition
    named after its final phase, so ``kubectl wait --for=condition=Succeeded`` works.
    """

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    PRUNED = "Pruned"
    STOPPED = "Stopped"


class StudyReason(enum.StrEnum):
    """Reasons of a study's conditions set by the operator itself.

    When the engine ends a study, the reason is the engine's ``Outcome`` (``GoalReached``,
    ``BudgetExhausted``, ``TimedOut``, ...) instead: the engine owns that list.
    """

    TRIALS_RUNNING = "TrialsRunning"
    """Running: the study is searching."""
    ENDING = "Ending"
    """Running: an ending is decided; active trials are being stopped."""
    SUSPENDED = "Suspended"
    """Not running: ``spec.suspend`` is set."""
    INVALID_SPEC = "InvalidSpec"
    """Failed: the spec cannot be run; the message names the field."""
    CHECKPOINT_CLAIM_MISSING = "CheckpointClaimMissing"
    """Not running: the PersistentVolumeClaim of ``spec.trialTemplate.checkpoints`` does not
    exist; no trial is launched until it does (the message names the claim and the fix)."""
    WARM_START_UNAVAILABLE = "WarmStartUnavailable"
    """Pending: a warm-start source (a ConfigMap, an earlier study) is missing or unreadable;
    the message names the field and the fix, and the study starts once it is fixed."""


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    type: str = Field(description="CamelCase kind of condition, e.g. Running or Succeeded.")
    status: ConditionStatus
    reason: str = Field(description="CamelCase machine-readable reason, e.g. GoalReached.")
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


def set_condition(conditions: Sequence[Condition], new: Condition) -> list[Condition]:
    """Replace the condition of the same type; an unchanged status keeps its transition time."""
    result = []
    replaced = False
    for existing in conditions:
        if existing.type != new.type:
            result.append(existing)
            continue
        replaced = True
        if existing.status == new.status:
            new = new.model_copy(update={"last_transition_time": existing.last_transition_time})
        result.append(new)
    if not replaced:
        result.append(new)
    return result


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.type == type_), None)
