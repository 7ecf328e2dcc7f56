"""The ``Trial`` resource: one evaluation of one parameter set, owned by its study.

The operator writes the spec and the phase; the trial's runner writes the metrics it reports
(``values`` and ``intermediate``) through the status subresource. Intermediate values are a
bounded list — downsampled, always keeping the first, the last and the best points — so a
trial that reports every step for a week still fits comfortably in etcd.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from kubetune.api._base import KubeModel
from kubetune.api.attributes import AttributeValue, check_attributes
from kubetune.api.conditions import Condition
from kubetune.api.study import ObjectMeta, ParameterValue

MAX_INTERMEDIATE_POINTS = 100
MAX_TRIAL_METRICS = 64
"""Distinct metric names a Trial's status holds (``values``, ``nonFiniteValues`` and each
intermediate point): the runner keeps ``kubetune_runner._values.MAX_METRICS`` (32) names per
reporting process, and a trial has at most two (the ``kubetune-runner --`` wrapper and the
program it runs, which may call ``report()`` too); a test keeps the two constants in step.
The CRD refuses more. With ``MAX_INTERMEDIATE_POINTS`` it bounds a Trial's status: see
``MAX_TRIAL_STATUS_BYTES``."""
MAX_TRIAL_STATUS_BYTES = 768 * 1024
"""A bound on a Trial's serialized status, whatever its program reports: 100 points of 64
metrics with 63-character names and full-precision values, plus messages and conditions.
Half of etcd's 1.5 MiB object limit; a test computes the worst case."""


class TrialPhase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    PRUNED = "Pruned"
    STOPPED = "Stopped"

    def is_finished(self) -> bool:
        return self not in (TrialPhase.PENDING, TrialPhase.RUNNING)

    def is_active(self) -> bool:
        return not self.is_finished()


class IntermediatePoint(KubeModel):
    step: int = Field(ge=0)
    values: dict[str, float]


class TrialSpec(KubeModel):
    study: str = Field(description="Name of the owning TuningStudy.")
    index: int = Field(ge=0, description="Position in the study; the name is <study>-<index>.")
    parameters: dict[str, ParameterValue]
    budget: float | None = Field(
        default=None, description="Resource granted to this trial (multi-fidelity algorithms)."
    )
    attributes: dict[str, AttributeValue] = Field(
        default_factory=dict,
        description="What the algorithm attached to this trial (generation, parent trial, "
        "checkpoint to restore from); it reads them back on every later suggestion.",
    )
    stop: bool = Field(default=False, description="Set by the operator: the trial should end.")
    stop_reason: str | None = Field(default=None, description="Why the trial is asked to stop.")

    @field_validator("attributes", mode="before")
    @classmethod
    def _bounded(cls, attributes: object) -> object:
        """Our words for every broken bound, before pydantic's for each member of the union.
        The CRD can only count the keys (maxProperties): CEL cannot type the values."""
        if isinstance(attributes, Mapping):
            return check_attributes(attributes)
        return attributes


class TrialStatus(KubeModel):
    phase: TrialPhase = TrialPhase.PENDING
    reason: str | None = Field(
        default=None, description="CamelCase reason for the phase (see api/reasons.py)."
    )
    message: str | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=16)
    values: dict[str, float] = Field(
        default_factory=dict, description="Latest reported value of each metric."
    )
    non_finite_values: dict[str, str] = Field(
        default_factory=dict,
        description="Metrics whose latest report was NaN or infinite, with that value as text "
        "(JSON has no NaN); written by the runner, read by the trial's verdict.",
    )
    value: float | None = Field(default=None, description="Objective value, for kubectl get.")
    intermediate: list[IntermediatePoint] = Field(
        default_factory=list, max_length=MAX_INTERMEDIATE_POINTS
    )
    last_step: int | None = None
    exit_code: int | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    gpu_seconds: float = 0.0
    retries: int = Field(
        default=0,
        ge=0,
        description="How often the trial was run again because its pod was lost (killed from "
        "outside, deleted, its node gone); a lost pod is not a failed trial.",
    )
    lost_job: str | None = Field(
        default=None,
        max_length=64,
        description="Uid of the Job whose lost pod retries counted last; written with the "
        "count before that Job is deleted, so a loss is counted once.",
    )


class Trial(KubeModel):
    api_version: Literal["kubetune.dev/v1alpha1"] = "kubetune.dev/v1alpha1"
    kind: Literal["Trial"] = "Trial"
    metadata: ObjectMeta
    spec: TrialSpec
    status: TrialStatus | None = None


def trial_name(study: str, index: int) -> str:
    """Deterministic, so a restarted operator can never create the same trial twice."""
    return f"{study}-{index}"
