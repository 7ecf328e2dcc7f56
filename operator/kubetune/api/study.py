"""The ``TuningStudy`` resource: what the user asks for (spec) and what kubetune observed (status).

These models are the single source of truth for the manifest: the CRD schema is generated from
them (``kubetune crds``), ``kubetune validate`` and the local backend parse files with them, and
the operator reads cluster objects with them. Cross-field rules live in validators here and
mirror the CEL rules of the CRD, so a broken study is rejected the same way on a laptop and at
``kubectl apply`` time.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from kubetune.api._base import KubeModel
from kubetune.api.conditions import Condition

GROUP = "kubetune.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
STUDY_LABEL = f"{GROUP}/study"

ParameterValue = float | int | str | bool


class SpecModel(KubeModel):
    """Base of the spec's models: numbers must be finite.

    YAML spells infinity and NaN ``.inf`` and ``.nan``; no bound, step, choice, target or
    setting can mean either, and letting one through crashes far from the manifest
    (``int(inf)``) or turns into a misleading message (``nan < high`` is false).
    """

    model_config = KubeModel.model_config | {"allow_inf_nan": False}


MAX_PARAMETERS = 64
MAX_CHOICES = 256
MAX_INITIAL_TRIALS = 256
MAX_OBJECTIVES = 4
MAX_PARETO_FRONT = 20
MAX_CONSTRAINTS = 8
MAX_METRICS = 32
MAX_STUDY_NAME = 52
"""A study name leaves room for ``-<index>`` in its trials' names (63 characters)."""
MAX_DELETED_LISTED = 20
"""Deleted trials' indices a study's status lists (``deletedTrialIndices``): the lowest ones."""


class Direction(enum.StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` in this direction."""
        return a < b if self is Direction.MINIMIZE else a > b


class Objective(SpecModel):
    metric: str = Field(min_length=1, max_length=63, description="Metric name the trial reports.")
    direction: Direction = Field(description="minimize or maximize.")
    target: float | None = Field(
        default=None,
        description="The study succeeds (GoalReached) once a trial reaches this value.",
    )


class Constraint(SpecModel):
    """A limit a trial must keep to be feasible: its metric at most max, or at least min."""

    metric: str = Field(
        min_length=1,
        max_length=63,
        description="A metric the trial reports; an objective or one of spec.metrics.",
    )
    max: float | None = Field(default=None, description="Feasible when metric <= max.")
    min: float | None = Field(default=None, description="Feasible when metric >= min.")

    @model_validator(mode="after")
    def _one_bound(self) -> Constraint:
        if (self.max is None) == (self.min is None):
            raise ValueError(
                f"constraint on {self.metric!r}: give exactly one of 'max' or 'min' "
                "(two limits on one metric are two constraints)"
            )
        return self

    def margin(self, value: float) -> float:
        """How far ``value`` is beyond the limit: positive outside, zero or negative (by the
        room left) inside; a model of the constraint needs the sign and the room."""
        if self.max is not None:
            return value - self.max
        assert self.min is not None  # one of the two, checked above
        return self.min - value

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the limit; 0 when the constraint holds."""
        return max(0.0, self.margin(value))

    def describe(self) -> str:
        return (
            f"{self.metric} <= {self.max:g}"
            if self.max is not None
            else (f"{self.metric} >= {self.min:g}")
        )


class ParameterType(enum.StrEnum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


class ParameterSpec(SpecModel):
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


DEFAULT_ALGORITHM = "random"
NO_RULE = "none"
"""``spec.earlyStopping.rule`` for no early stopping (the default)."""
_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


# ``AlgorithmSpec.name`` and ``EarlyStoppingSpec.rule`` are strings, not enums: algorithms and
# rules are each declared once, in their own module of ``kubetune.algorithms`` /
# ``kubetune.stopping``, a layer *above* this one, so their names cannot be imported here. The
# CRD generator is handed the registries' names (the schema's ``enum``), and
# ``kubetune.validation`` refuses an unknown name listing the known ones; these models only
# check the shape. (Class docstrings here become CRD descriptions: they speak to users.)


class AlgorithmSpec(SpecModel):
    """Which algorithm suggests trials, and its settings."""

    name: str = Field(
        default=DEFAULT_ALGORITHM,
        pattern=_NAME_PATTERN,
        max_length=63,
        description="The suggestion algorithm; see docs/algorithms.md.",
    )
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Algorithm settings; see docs/algorithms.md for each algorithm's fields.",
    )


class EarlyStoppingSpec(SpecModel):
    """An early-stopping rule that ends unpromising trials, and its settings."""

    rule: str = Field(
        default=NO_RULE,
        pattern=_NAME_PATTERN,
        max_length=63,
        description="The early-stopping rule (none: no early stopping); see docs/algorithms.md.",
    )
    settings: dict[str, Any] = Field(default_factory=dict)


class ResourceBudget(SpecModel):
    """The training resource multi-fidelity algorithms hand out (epochs, steps, samples)."""

    name: str = Field(min_length=1, max_length=63, description="What the trial reads as ${budget}.")
    min: float = Field(gt=0, description="Smallest amount a trial is run with.")
    max: float = Field(gt=0, description="Largest amount; a trial given this runs to completion.")

    @model_validator(mode="after")
    def _min_below_max(self) -> ResourceBudget:
        if not self.min < self.max:
            raise ValueError(f"resource.min ({self.min:g}) must be less than resource.max")
        return self


class BudgetSpec(SpecModel):
    max_trials: int = Field(default=20, ge=1, le=100_000, description="Trials to run in all.")
    parallel_trials: int = Field(default=1, ge=1, le=10_000, description="Trials at once.")
    max_failed_trials: int | None = Field(
        default=None,
        ge=0,
        description="The study fails once more trials than this have failed (unset: no limit).",
    )
    timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        description="End the study after this long (condition reason TimedOut); running trials "
        "are stopped.",
    )
    resource: ResourceBudget | None = Field(
        default=None,
        description="Training resource for the algorithms that hand one out (asha, hyperband, pbt; "
        "see docs/algorithms.md), given to trials as ${budget}.",
    )

    @model_validator(mode="after")
    def _parallel_within_max(self) -> BudgetSpec:
        if self.parallel_trials > self.max_trials:
            raise ValueError(
                f"parallelTrials ({self.parallel_trials}) must not exceed maxTrials "
                f"({self.max_trials}); lower parallelTrials"
            )
        return self


MIG_SLICES = 7
"""Compute slices of a whole MIG-capable GPU (A100, H100, H200): ``mig-3g.40gb`` is 3/7."""
MIG_RESOURCE = re.compile(r"/mig-(\d+)g\.")
MEMORY_RESOURCES = ("nvidia.com/gpumem", "nvidia.com/gpumem-percentage")
"""Memory-sliced GPU resources (HAMi): their count is memory, not devices."""


class ResourcesSpec(SpecModel):
    """GPUs of each trial: a count of ``gpuResource`` units, and what share of a GPU each is.

    ``gpuFraction`` is only for accounting (GPU-seconds = gpus × gpuFraction × seconds);
    without it a MIG profile counts its compute slices (``mig-1g.10gb`` is 1/7) and every other
    resource counts whole devices — a time-sliced ``nvidia.com/gpu.shared`` replica or a HAMi
    vGPU holds a share only the cluster's configuration knows, so say it with gpuFraction.
    """

    gpus: int = Field(default=0, ge=0, le=64, description="GPUs per trial, added to the container.")
    gpu_resource: str = Field(
        default="nvidia.com/gpu",
        pattern=r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$",
        description="Extended resource name, e.g. nvidia.com/gpu, nvidia.com/gpu.shared "
        "(time-slicing) or nvidia.com/mig-1g.10gb (MIG).",
    )
    gpu_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of a physical GPU one gpuResource unit stands for, for GPU-seconds "
        "(e.g. 0.25 for a time-sliced GPU with 4 replicas). Default: slices/7 for MIG "
        "profiles, 1 otherwise.",
    )
    gpu_memory: int | None = Field(
        default=None,
        ge=1,
        description="GPU memory per trial for memory-sliced schedulers (HAMi), added to the "
        "container as gpuMemoryResource next to the gpus count.",
    )
    gpu_memory_resource: str = Field(
        default="nvidia.com/gpumem",
        pattern=r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$",
        description="Resource name of gpuMemory (HAMi: nvidia.com/gpumem in MiB, or "
        "nvidia.com/gpumem-percentage).",
    )

    @model_validator(mode="after")
    def _devices_not_memory(self) -> ResourcesSpec:
        if self.gpu_resource in MEMORY_RESOURCES:
            raise ValueError(
                f"gpuResource {self.gpu_resource} counts memory, not GPUs: keep gpuResource "
                "nvidia.com/gpu (the number of vGPUs, usually 1), set gpuMemory to the memory "
                "and gpuMemoryResource to this resource"
            )
        if self.gpu_memory is not None and self.gpus == 0:
            raise ValueError("gpuMemory needs gpus (usually 1): memory is sliced out of a GPU")
        return self

    @property
    def gpu_share(self) -> float:
        """Physical GPUs' worth one trial holds: what its GPU-seconds are counted in."""
        if self.gpu_fraction is not None:
            return self.gpus * self.gpu_fraction
        mig = MIG_RESOURCE.search(self.gpu_resource)
        slices = min(int(mig.group(1)), MIG_SLICES) if mig else MIG_SLICES
        return self.gpus * slices / MIG_SLICES


CHECKPOINT_MOUNT_PATH = "/kubetune/checkpoints"
"""Where the checkpoint claim is mounted in each trial's primary container by default."""
CLAIM_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
URI_PATTERN = r"^[a-z][a-z0-9+.-]*://[^\s]+$"


class CheckpointClaim(SpecModel):
    """A PersistentVolumeClaim in the study's namespace that holds every trial's checkpoint."""

    claim_name: str = Field(
        min_length=1,
        max_length=253,
        pattern=CLAIM_NAME_PATTERN,
        description="Name of an existing PersistentVolumeClaim in the study's namespace. "
        "ReadWriteMany lets trials on any node share it; ReadWriteOnce needs the trials "
        "kept on one node (see docs/operations.md).",
    )


class CheckpointsSpec(SpecModel):
    """Where trials save checkpoints and find the ones they restore from (PBT).

    Give exactly one: a PersistentVolumeClaim the operator mounts into every trial Job's
    primary container (trial T saves under ``<mountPath>/<study>/<T>``, so one trial can
    read another's directory), or a URI prefix handed to the trial's own code (trial T
    saves under ``<uri>/<study>/<T>``). The operator never copies checkpoint data.
    """

    persistent_volume_claim: CheckpointClaim | None = Field(
        default=None, description="A claim mounted into every trial (one sub-path per trial)."
    )
    uri: str | None = Field(
        default=None,
        max_length=1024,
        pattern=URI_PATTERN,
        description="A prefix such as s3://bucket/prefix or gs://bucket/prefix that the "
        "trial's code writes to and reads from itself; nothing is mounted.",
    )
    mount_path: str | None = Field(
        default=None,
        max_length=1024,
        pattern=r"^/",
        description=f"Where the claim is mounted in the primary container (default "
        f"{CHECKPOINT_MOUNT_PATH}); only with persistentVolumeClaim.",
    )

    @model_validator(mode="after")
    def _one_place(self) -> CheckpointsSpec:
        if (self.persistent_volume_claim is None) == (self.uri is None):
            raise ValueError(
                "give exactly one of 'persistentVolumeClaim' (a claim mounted into every "
                "trial) or 'uri' (a prefix handed to the trial's code)"
            )
        if self.mount_path is not None and self.persistent_volume_claim is None:
            raise ValueError("'mountPath' is only for 'persistentVolumeClaim'; drop it with 'uri'")
        return self

    @property
    def mount(self) -> str:
        """Where the claim is mounted (meaningful only with a claim)."""
        return (self.mount_path or CHECKPOINT_MOUNT_PATH).rstrip("/") or "/"

    def location(self, study: str, trial: str) -> str:
        """Trial ``trial``'s checkpoint directory or URI, as the trial sees it."""
        base = self.uri if self.uri is not None else self.mount
        return f"{base.rstrip('/')}/{study}/{trial}"


class TrialTemplate(SpecModel):
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    checkpoints: CheckpointsSpec | None = Field(
        default=None,
        description="Where trials keep checkpoints on a cluster (a claim or a URI prefix); "
        "see docs/operations.md.",
    )
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


MAX_WARM_START_STUDIES = 16
MAX_OBJECT_NAME = 253
"""Kubernetes' limit on a ConfigMap's name and on each of its keys."""
CONFIG_MAP_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_MAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
"""The characters Kubernetes allows in a ConfigMap key."""
RESULTS_SUFFIXES = (".csv", ".json")
"""A results file's name (or ConfigMap key) ends with one of these: its format."""
STUDY_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
StudyName = Annotated[
    str, Field(min_length=1, max_length=MAX_STUDY_NAME, pattern=STUDY_NAME_PATTERN)
]


class ConfigMapResults(SpecModel):
    """A results file held in a ConfigMap of the study's namespace: how a cluster study
    warm-starts from a file, since the operator cannot read the user's machine."""

    name: str = Field(
        min_length=1,
        max_length=MAX_OBJECT_NAME,
        pattern=CONFIG_MAP_NAME_PATTERN,
        description="The ConfigMap, in the study's namespace.",
    )
    key: str = Field(
        min_length=1,
        max_length=MAX_OBJECT_NAME,
        pattern=CONFIG_MAP_KEY_PATTERN,
        description="The key holding the results text; its suffix, .csv or .json, says the "
        "format (kubectl create configmap NAME --from-file=results.csv makes the key "
        "results.csv).",
    )

    @field_validator("key")
    @classmethod
    def _has_a_format(cls, key: str) -> str:
        if not key.lower().endswith(RESULTS_SUFFIXES):
            raise ValueError(
                f"key {key!r} must end in .csv or .json, the format of the results it holds"
            )
        return key


class WarmStartSpec(SpecModel):
    """Earlier results the algorithm starts from, as if they were finished trials.

    Their trials are matched by parameter name; values outside this study's space are
    dropped (with a count). They are not counted against maxTrials, never become the best
    trial, and are shown apart from the study's own trials. See docs/manifest.md.
    """

    studies: list[StudyName] = Field(
        default_factory=list,
        max_length=MAX_WARM_START_STUDIES,
        description="Earlier studies (same namespace on a cluster, same state dir locally) "
        "whose succeeded trials the algorithm starts from.",
    )
    file: str | None = Field(
        default=None,
        min_length=1,
        description="A CSV or JSON file of past results (parameters and objective values), "
        "relative to the study file; kubetune run only, the operator cannot read files.",
    )
    config_map: ConfigMapResults | None = Field(
        default=None,
        description="A results file (CSV or JSON, as for file) held in a ConfigMap of the "
        "study's namespace; clusters only, kubetune run reads file instead.",
    )

    @field_validator("studies")
    @classmethod
    def _distinct(cls, studies: list[StudyName]) -> list[StudyName]:
        if len(set(studies)) != len(studies):
            raise ValueError(f"studies must be distinct, got {studies}")
        return studies

    @model_validator(mode="after")
    def _has_a_source(self) -> WarmStartSpec:
        if not self.studies and self.file is None and self.config_map is None:
            raise ValueError("warmStart needs 'studies', a 'file' or a 'configMap'")
        return self


class StudySpec(SpecModel):
    objective: Objective | None = Field(default=None, description="One metric to optimize.")
    objectives: list[Objective] | None = Field(
        default=None,
        min_length=2,
        max_length=MAX_OBJECTIVES,
        description="Several metrics to optimize at once (multi-objective; Pareto front).",
    )
    metrics: list[Annotated[str, Field(min_length=1, max_length=63)]] = Field(
        default_factory=list,
        max_length=MAX_METRICS,
        description="Extra metrics to record, not optimize.",
    )
    constraints: list[Constraint] = Field(
        default_factory=list,
        max_length=MAX_CONSTRAINTS,
        description="Limits a trial must keep to be feasible; only feasible trials can be "
        "best, reach a target or join the Pareto front.",
    )
    reference_point: list[float] | None = Field(
        default=None,
        max_length=MAX_OBJECTIVES,
        description="Hypervolume reference point of a multi-objective study: one value per "
        "objective, in the metrics' own units, worse than any trial of interest (default: "
        "the worst observed values plus 10% of their range).",
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
    warm_start: WarmStartSpec | None = Field(
        default=None,
        description="Earlier studies or a results file the algorithm starts from.",
    )

    @model_validator(mode="after")
    def _check_cross_fields(self) -> StudySpec:
        if (self.objective is None) == (self.objectives is None):
            raise ValueError("give exactly one of 'objective' (one metric) or 'objectives' (list)")
        metrics = [o.metric for o in self.objective_list]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objective metrics must be distinct, got {metrics}")
        _check_constraints(self)
        names = [p.name for p in self.parameters]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {duplicates}")
        by_name = {p.name: p for p in self.parameters}
        for i, parameter in enumerate(self.parameters):
            for parent, values in (parameter.when or {}).items():
                _check_condition(i, parameter.name, parent, values, by_name)
        cycle = condition_cycle({p.name: list(p.when or {}) for p in self.parameters})
        if cycle:
            raise ValueError(
                f"'when' conditions form a cycle: {' -> '.join(cycle)}; "
                "a parameter cannot depend on itself through others"
            )
        return self

    @property
    def objective_list(self) -> list[Objective]:
        if self.objective is not None:
            return [self.objective]
        return list(self.objectives or [])

    @property
    def named_metrics(self) -> list[str]:
        """The metrics the spec names: objectives first, then ``metrics`` (constraints name
        one of these). What a study's status shows of a trial's values, however many it
        reports, so the status stays bounded by the spec."""
        objectives = [o.metric for o in self.objective_list]
        return objectives + [m for m in self.metrics if m not in objectives]

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objective_list) > 1

    def reference_losses(self) -> tuple[float, ...] | None:
        """``referencePoint`` as losses (maximized metrics negated), like ``History``'s."""
        if self.reference_point is None:
            return None
        return tuple(
            -value if objective.direction is Direction.MAXIMIZE else value
            for value, objective in zip(self.reference_point, self.objective_list, strict=True)
        )


def _check_constraints(spec: StudySpec) -> None:
    """Constraint metrics distinct and recorded; a reference point that fits the objectives."""
    objectives = [o.metric for o in spec.objective_list]
    named = [c.metric for c in spec.constraints]
    if len(set(named)) != len(named):
        raise ValueError(
            f"constraint metrics must be distinct, got {named}; "
            "a metric takes one limit, max or min"
        )
    for i, constraint in enumerate(spec.constraints):
        if constraint.metric not in objectives and constraint.metric not in spec.metrics:
            raise ValueError(
                f"spec.constraints[{i}].metric: {constraint.metric!r} is neither an objective "
                f"nor a recorded metric; add it to spec.metrics"
            )
    if spec.reference_point is not None and len(objectives) == 1:
        raise ValueError(
            "spec.referencePoint is for several objectives (the hypervolume of a Pareto "
            "front); drop it, or list the metrics under spec.objectives"
        )
    if spec.reference_point is not None and len(spec.reference_point) != len(objectives):
        raise ValueError(
            f"spec.referencePoint has {len(spec.reference_point)} values for "
            f"{len(objectives)} objectives; give one value per objective, in the order of "
            "spec.objectives"
        )


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


def condition_cycle(parents: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``when`` dependencies, as names from a parameter back to itself, or None.

    ``parents`` maps each parameter to the parameters its ``when`` names. Depth-first search
    in the order given, so the reported cycle is stable.
    """
    done: set[str] = set()
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done or name not in parents:
            return None
        path.append(name)
        for parent in parents[name]:
            cycle = visit(parent)
            if cycle:
                return cycle
        path.pop()
        done.add(name)
        return None

    for name in parents:
        cycle = visit(name)
        if cycle:
            return cycle
    return None


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
    pareto_front_size: int | None = Field(
        default=None,
        description="Feasible non-dominated trials (multi-objective); paretoFront lists up "
        f"to {MAX_PARETO_FRONT} of them.",
    )
    hypervolume: float | None = Field(
        default=None,
        description="Hypervolume of the Pareto front up to spec.referencePoint (multi-objective).",
    )
    feasible_trials: int | None = Field(
        default=None, description="Succeeded trials that keep every constraint."
    )
    start_time: datetime | None = None
    completion_time: datetime | None = None
    gpu_seconds: float = 0.0
    pruned_saved_steps: int | None = Field(
        default=None, description="Steps of training not spent thanks to early stopping."
    )
    next_trial_index: int | None = Field(
        default=None,
        ge=0,
        description="The index the next trial gets. Every index below it was given to a "
        "trial, so the index of a Trial deleted by hand is never given again.",
    )
    deleted_trials: int | None = Field(
        default=None,
        ge=0,
        description="Trials of this study deleted by hand: their indices stay unused, their "
        "results count nowhere, and each freed its place in maxTrials while the study ran.",
    )
    deleted_trial_indices: list[int] = Field(
        default_factory=list,
        max_length=MAX_DELETED_LISTED,
        description=f"The lowest {MAX_DELETED_LISTED} indices of the deleted trials.",
    )


class ObjectMeta(KubeModel):
    model_config = KubeModel.model_config | {"extra": "allow"}
    name: str = Field(min_length=1, max_length=MAX_STUDY_NAME, pattern=STUDY_NAME_PATTERN)
    namespace: str | None = None


class TuningStudy(KubeModel):
    api_version: Literal["kubetune.dev/v1alpha1"] = "kubetune.dev/v1alpha1"
    kind: Literal["TuningStudy"] = "TuningStudy"
    metadata: ObjectMeta
    spec: StudySpec
    status: StudyStatus | None = None
