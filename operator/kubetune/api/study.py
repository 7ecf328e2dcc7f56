"""The ``TuningStudy`` resource: what the user asks for (spec) and what kubetune observed (status).

These models are the single source of truth for the manifest: the CRD schema is generated from
them (``kubetune crds``), ``kubetune validate`` and the local backend parse files with them, and
the operator reads cluster objects with them. Cross-field rules live in validators here and
mirror the CEL rules of the CRD, so a broken study is rejected the same way on a laptop and at
``kubectl apply`` time.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from kubetune.api._base import KubeModel
from kubetune.api.conditions import Condition

GROUP = "kubetune.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
STUDY_LABEL = f"{GROUP}/study"

ParameterValue = float | int | str | bool

MAX_PARAMETERS = 64
MAX_CHOICES = 256
MAX_INITIAL_TRIALS = 256
MAX_OBJECTIVES = 4
MAX_PARETO_FRONT = 20


class Direction(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this direction."""
        return a < b if self is Direction.MINIMIZE else a > b


class Objective(KubeModel):
    metric: str = Field(min_length=1, max_length=63, description="Metric name the trial reports.")
    direction: Direction = Field(description="minimize or maximize.")
    target: float | None = Field(
        default=None,
        description="The study succeeds (GoalReached) once a trial reaches this value.",
    )


class ParameterType(enum.StrEnum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


class ParameterSpec(KubeModel):
    name: str = Field(
        min_length=1,
        max_length=63,
        pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$",
        description="Used as ${params.NAME} in the trial template.",
    )
    type: ParameterType
    low: float | None = Field(default=None, description="Lower bound (float and int).")
    high: float | None = Field(default=None, description="Upper bound, inclusive (float and int).")
    log: bool = Field(default=False, description="Sample on a log scale; needs low > 0.")
    step: float | None = Field(
        default=None, description="Quantization from low (float), or stride (int)."
    )
    choices: list[ParameterValue] | None = Field(
        default=None, max_length=MAX_CHOICES, description="Values of a categorical parameter."
    )
    when: dict[str, list[ParameterValue]] | None = Field(
        default=None,
        description="Active only when each named categorical parameter has one of these values.",
    )

    @model_validator(mode="after")
    def _check_shape(self) -> ParameterSpec:
        if self.type is ParameterType.CATEGORICAL:
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError(
                    "a categorical parameter takes 'choices' only, not low/high/step/log"
                )
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty 'choices' list")
            if len({_choice_key(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"'choices' must be unique, got {self.choices}")
            return self
        if self.choices is not None:
            raise ValueError(f"'choices' is only for categorical parameters, not {self.type}")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs both 'low' and 'high'")
        if not self.low < self.high:
            raise ValueError(f"'low' ({self.low:g}) must be less than 'high' ({self.high:g})")
        if self.type is ParameterType.INT:
            for bound, value in (("low", self.low), ("high", self.high)):
                if value != int(value):
                    raise ValueError(f"'{bound}' of an int parameter must be a whole number")
            if self.step is not None and self.step != int(self.step):
                raise ValueError("'step' of an int parameter must be a whole number")
        if self.log and self.low <= 0:
            raise ValueError(
                f"'log: true' needs 'low' > 0 (got {self.low:g}); raise low or drop log"
            )
        if self.step is not None:
            if self.step <= 0:
                raise ValueError(f"'step' must be > 0, got {self.step:g}")
            if self.step > self.high - self.low:
                raise ValueError(
                    f"'step' ({self.step:g}) is larger than high - low "
                    f"({self.high - self.low:g}); shrink the step"
                )
            if self.log and self.step != 1:
                raise ValueError("'log' and 'step' cannot be combined; drop one of them")
        return self


def _choice_key(value: ParameterValue) -> tuple[str, ParameterValue]:
    return (type(value).__name__ if isinstance(value, bool | str) else "number", value)


class AlgorithmName(enum.StrEnum):
    RANDOM = "random"
    GRID = "grid"
    SOBOL = "sobol"
    BAYESOPT = "bayesopt"
    TPE = "tpe"
    CMAES = "cmaes"
    HYPERBAND = "hyperband"
    ASHA = "asha"
    NSGA2 = "nsga2"


class AlgorithmSpec(KubeModel):
    name: AlgorithmName = Field(
        default=AlgorithmName.RANDOM, description="The suggestion algorithm."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Algorithm settings; see docs/algorithms.md for each algorithm's fields.",
    )


class StoppingRuleName(enum.StrEnum):
    NONE = "none"
    MEDIAN = "median"
    PERCENTILE = "percentile"
    THRESHOLD = "threshold"


class EarlyStoppingSpec(KubeModel):
    rule: StoppingRuleName = Field(default=StoppingRuleName.NONE)
    settings: dict[str, Any] = Field(default_factory=dict)


class ResourceBudget(KubeModel):
    """The training resource multi-fidelity algorithms hand out (epochs, steps, samples)."""

    name: str = Field(min_length=1, max_length=63, description="What the trial reads as ${budget}.")
    min: float = Field(gt=0, description="Smallest amount a trial is run with.")
    max: float = Field(gt=0, description="Largest amount; a trial given this runs to completion.")

    @model_validator(mode="after")
    def _min_below_max(self) -> ResourceBudget:
        if not self.min < self.max:
            raise ValueError(f"resource.min ({self.min:g}) must be less than resource.max")
        return self


class BudgetSpec(KubeModel):
    max_trials: int = Field(default=20, ge=1, le=100_000, description="Trials to run in all.")
    parallel_trials: int = Field(default=1, ge=1, le=10_000, description="Trials at once.")
    max_failed_trials: int | None = Field(
        default=None,
        ge=0,
        description="The study fails once more trials than this have failed (unset: no limit).",
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, description="Stop the study (BudgetExhausted) after this long."
    )
    resource: ResourceBudget | None = Field(
        default=None, description="Training resource for asha/hyperband, given as ${budget}."
    )

    @model_validator(mode="after")
    def _parallel_within_max(self) -> BudgetSpec:
        if self.parallel_trials > self.max_trials:
            raise ValueError(
                f"parallelTrials ({self.parallel_trials}) must not exceed maxTrials "
                f"({self.max_trials}); lower parallelTrials"
            )
        return self


class ResourcesSpec(KubeModel):
    gpus: int = Field(default=0, ge=0, le=64, description="GPUs per trial, added to the container.")
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        pattern=r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$",
        description="Extended resource name, e.g. nvidia.com/gpu or nvidia.com/mig-1g.10gb.",
    )


class TrialTemplate(KubeModel):
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    primary_container: str | None = Field(
        default=None,
        description="Container that runs training and gets the GPUs (default: the first).",
    )
    job: dict[str, Any] = Field(description="A batch/v1 JobSpec; ${params.NAME} is substituted.")

    @field_validator("job")
    @classmethod
    def _has_a_command(cls, job: dict[str, Any]) -> dict[str, Any]:
        containers = job.get("template", {}).get("spec", {}).get("containers")
        if not isinstance(containers, list) or not containers:
            raise ValueError("the job needs template.spec.containers with at least one container")
        for i, container in enumerate(containers):
            if not isinstance(container, dict) or not container.get("name"):
                raise ValueError(f"template.spec.containers[{i}] needs a 'name'")
        return job

    def container(self) -> dict[str, Any]:
        """The primary container: the named one, else the first."""
        containers: list[dict[str, Any]] = self.job["template"]["spec"]["containers"]
        if self.primary_container is None:
            return containers[0]
        for container in containers:
            if container.get("name") == self.primary_container:
                return container
        raise ValueError(f"primaryContainer {self.primary_container!r} is not in the job")

    @model_validator(mode="after")
    def _primary_exists(self) -> TrialTemplate:
        self.container()
        return self


class StudySpec(KubeModel):
    objective: Objective | None = Field(default=None, description="One metric to optimize.")
    objectives: list[Objective] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_OBJECTIVES,
        description="Several metrics to optimize at once (multi-objective; Pareto front).",
    )
    metrics: list[str] = Field(
        default_factory=list, max_length=32, description="Extra metrics to record, not optimize."
    )
    parameters: list[ParameterSpec] = Field(min_length=1, max_length=MAX_PARAMETERS)
    algorithm: AlgorithmSpec = Field(default_factory=AlgorithmSpec)
    early_stopping: EarlyStoppingSpec = Field(default_factory=EarlyStoppingSpec)
    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    seed: int | None = Field(
        default=None, ge=0, description="Makes suggestions reproducible (default: from the name)."
    )
    initial_trials: list[dict[str, ParameterValue]] = Field(
        default_factory=list,
        max_length=MAX_INITIAL_TRIALS,
        description="Parameter sets evaluated first, in order (manual search).",
    )
    trial_template: TrialTemplate
    suspend: bool = Field(default=False, description="Pause launching new trials.")

    @model_validator(mode="after")
    def _check_cross_fields(self) -> StudySpec:
        if (self.objective is None) == (self.objectives is None):
            raise ValueError("give exactly one of 'objective' (one metric) or 'objectives' (list)")
        metrics = [o.metric for o in self.objective_list]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objective metrics must be distinct, got {metrics}")
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {duplicates}")
        by_name = {p.name: p for p in self.parameters}
        for i, parameter in enumerate(self.parameters):
            for parent, values in (parameter.when or {}).items():
                _check_condition(i, parameter.name, parent, values, by_name)
        return self

    @property
    def objective_list(self) -> list[Objective]:
        if self.objective is not None:
            return [self.objective]
        return list(self.objectives or [])

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objective_list) > 1


def _check_condition(
    index: int,
    name: str,
    parent: str,
    values: list[ParameterValue],
    by_name: dict[str, ParameterSpec],
) -> None:
    where = f"parameters[{index}] ({name}).when.{parent}"
    target = by_name.get(parent)
    if target is None:
        raise ValueError(f"{where}: no parameter named {parent!r}; use one of {sorted(by_name)}")
    if target.type is not ParameterType.CATEGORICAL:
        raise ValueError(f"{where}: {parent!r} must be a categorical parameter")
    if parent == name:
        raise ValueError(f"{where}: a parameter cannot depend on itself")
    if not values:
        raise ValueError(f"{where}: list at least one of {target.choices}")
    known = {_choice_key(c) for c in target.choices or []}
    for value in values:
        if _choice_key(value) not in known:
            raise ValueError(f"{where}: {value!r} is not one of {target.choices}")


class StudyPhase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    def is_finished(self) -> bool:
        return self in (StudyPhase.SUCCEEDED, StudyPhase.FAILED)


class TrialCounts(KubeModel):
    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    pruned: int = 0
    stopped: int = 0


class BestTrial(KubeModel):
    name: str
    index: int
    parameters: dict[str, ParameterValue]
    values: dict[str, float]


class StudyStatus(KubeModel):
    phase: StudyPhase = StudyPhase.PENDING
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list, max_length=16)
    trials: TrialCounts = Field(default_factory=TrialCounts)
    progress: str | None = Field(default=None, description="'done/max' for kubectl get.")
    best_value: float | None = Field(default=None, description="Best objective value so far.")
    best_trial: BestTrial | None = None
    pareto_front: list[BestTrial] = Field(default_factory=list, max_length=MAX_PARETO_FRONT)
    start_time: datetime | None = None
    completion_time: datetime | None = None
    gpu_seconds: float = 0.0
    pruned_saved_steps: int | None = Field(
        default=None, description="Steps of training not spent thanks to early stopping."
    )


class ObjectMeta(KubeModel):
    model_config = KubeModel.model_config | {"extra": "allow"}
    name: str = Field(min_length=1, max_length=52, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str | None = None


class TuningStudy(KubeModel):
    api_version: Literal["kubetune.dev/v1alpha1"] = "kubetune.dev/v1alpha1"
    kind: Literal["TuningStudy"] = "TuningStudy"
    metadata: ObjectMeta
    spec: StudySpec
    status: StudyStatus | None = None
