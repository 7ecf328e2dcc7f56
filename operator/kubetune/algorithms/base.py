"""The contract every suggestion algorithm implements, and the trial history it reads.

A suggester is a pure object built from (search space, settings, seed). It is asked
``suggest(history, n)`` for up to ``n`` new parameter sets and must:

* rebuild whatever it needs from ``history`` alone (the operator is stateless and restarts
  at any moment), and give the same suggestions for the same history and seed;
* take running trials into account so parallel trials never duplicate a parameter set;
* return fewer than ``n`` suggestions when it must wait (e.g. for a rung to fill), and none
  at all, with nothing running, once its space is exhausted.

Algorithms always *minimize*: see ``kubetune.history``. Schedulers that also end running
trials (ASHA, Hyperband, PBT) override ``stops``.

Randomness is keyed on the trial index, not on how many trials the history holds: the
``k``-th suggestion of a call goes to trial ``next_index(history) + k`` (the engine numbers
new trials so), and ``rng``/``index_rng`` derive their streams from that index. With parallel
trials the history at a given index differs only in which trials have *finished*, so random,
sobol and grid give each trial index the same parameters at any parallelism.

Each algorithm module declares itself once with an ``Algorithm`` (name, suggester class,
docs, capabilities) in a module-level ``ALGORITHM``; the package discovers it (see
``kubetune.algorithms``).
"""

from __future__ import annotations

import abc
import enum
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from kubetune.api.attributes import AttributeValue
from kubetune.api.capabilities import Capabilities
from kubetune.api.study import StudySpec
from kubetune.history import (
    History,
    IntermediateValue,
    StopDecision,
    TrialRecord,
    TrialState,
)
from kubetune.space import Params, SearchSpace, Value

__all__ = [
    "SMALL_GRID",
    "UNIFORM_CANDIDATES_PER_SUGGESTION",
    "UNIFORM_RESCUE_CANDIDATES",
    "Algorithm",
    "AlgorithmSettings",
    "Family",
    "History",
    "IntermediateValue",
    "NoSettings",
    "ResourceSettings",
    "SettingsError",
    "StopDecision",
    "Suggester",
    "Suggestion",
    "TrialRecord",
    "TrialState",
    "fresh",
    "leftover_grid",
    "next_index",
]


@dataclass(frozen=True)
class Suggestion:
    """A parameter set to evaluate; multi-fidelity algorithms also say how much resource.

    ``attributes`` is what the algorithm wants to find again on this trial in later histories
    (generation, parent trial), within ``kubetune.api.attributes``' bounds; the engine refuses
    a suggestion that breaks them. ``restore_from`` is the index of an earlier trial whose
    checkpoint the new trial starts from (PBT); the engine, which knows the study's name,
    stores that trial's name under ``RESTORE_ATTRIBUTE`` for the backends.
    """

    params: dict[str, Value]
    budget: float | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    restore_from: int | None = None


class AlgorithmSettings(BaseModel):
    """Base of each algorithm's typed settings: camelCase in manifests, unknown keys rejected,
    non-finite numbers (``.inf``, ``.nan``) refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )


class NoSettings(AlgorithmSettings):
    """The settings of an algorithm that takes none: any key is an error naming it."""


class ResourceSettings(AlgorithmSettings):
    """Settings of an algorithm that hands out the study's training resource (asha,
    hyperband, pbt): ``minResource`` and ``maxResource``, which the engine fills in from
    ``spec.budget.resource``; a study without one is refused naming the field. Subclasses
    redefine the two fields with descriptions in their own terms."""

    NEEDS_RESOURCE: ClassVar[str] = "this algorithm needs the training resource"
    """Why, in the algorithm's own words: the first half of the refusal."""

    min_resource: float | None = Field(default=None, gt=0)
    max_resource: float | None = Field(default=None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _resource_fields_present(cls, data: Any) -> Any:
        # Missing fields become explicit nulls so the check below runs and names the field.
        if isinstance(data, dict):
            data = dict(data)
            for name, alias in (("min_resource", "minResource"), ("max_resource", "maxResource")):
                if name not in data and alias not in data:
                    data[alias] = None
        return data

    @field_validator("min_resource", "max_resource")
    @classmethod
    def _resource_given(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            raise ValueError(
                f"{cls.NEEDS_RESOURCE}: set spec.budget.resource {{name, min, max}} "
                "(or minResource/maxResource here)"
            )
        low = info.data.get("min_resource")
        if info.field_name == "max_resource" and low is not None and not low < value:
            raise ValueError(f"maxResource ({value:g}) must be above minResource ({low:g})")
        return value


SettingsT = TypeVar("SettingsT", bound=AlgorithmSettings)

UNIFORM_CANDIDATES_PER_SUGGESTION = 20
"""Uniform candidates drawn per wanted suggestion when an algorithm draws uniformly (random
search, or a model with nothing to learn yet): enough that, in a nearly used-up finite
space, a duplicate is replaced by another draw instead of the call returning short."""

SMALL_GRID = 10_000
"""A finite space with at most this many points is enumerated when uniform draws keep
hitting used points, so its last free points are found rather than the call returning short."""


def leftover_grid(space: SearchSpace, rng: np.random.Generator) -> list[Params]:
    """Every point of a small finite space in a random order (empty for other spaces): the
    last resort of an algorithm whose draws found nothing fresh."""
    if any(p.levels is None for p in space.parameters) or space.grid_size() > SMALL_GRID:
        return []
    points = list(space.grid())
    return [points[i] for i in rng.permutation(len(points))]


UNIFORM_RESCUE_CANDIDATES = 100
"""Uniform candidates drawn to replace one model pick whose proposals were all taken."""


class SettingsError(ValueError):
    """Algorithm settings that do not fit the algorithm; the message names each bad field."""


def next_index(history: History) -> int:
    """The index the engine gives the first suggestion of a call.

    The engine numbers new trials from the largest index so far, counting trials it is about
    to launch in the same decision (they are in the history as running), and never below
    ``history.issued``: a deleted trial's index is not given again.
    """
    return max(max((t.index for t in history.trials), default=-1) + 1, history.issued)


class Suggester(abc.ABC, Generic[SettingsT]):
    """Base of all suggestion algorithms, generic over their typed settings.

    Subclasses set ``Settings`` to the class they are parameterized with and implement
    ``suggest``; ``self.settings`` then has that type, with no runtime check.
    """

    Settings: ClassVar[type[AlgorithmSettings]] = NoSettings

    def __init__(self, space: SearchSpace, settings: SettingsT, seed: int) -> None:
        self.space = space
        self.settings: SettingsT = settings
        self.seed = seed

    @abc.abstractmethod
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        """Up to ``n`` new parameter sets, none equal to one already in ``history``.

        Suggestion ``k`` becomes trial ``next_index(history) + k``.
        """

    def stops(self, history: History) -> list[StopDecision]:
        """Running trials this algorithm ends itself (schedulers); most algorithms end none."""
        return []

    def study_problems(self, spec: StudySpec) -> list[str]:
        """What this algorithm cannot do with the rest of the study (its budget, initial
        trials), one ``spec.path: message`` each; most algorithms fit any study."""
        return []

    def checkpoints_needed(self, history: History) -> set[int] | None:
        """Indices of the trials whose checkpoints later trials may still restore from; the
        rest may be deleted. None (the default) keeps every checkpoint."""
        return None

    def finished_message(self, history: History) -> str | None:
        """Why this algorithm suggests nothing more once nothing runs, when that is not an
        exhausted search space (PBT: every member trained to the end)."""
        return None

    def rng(self, history: History, salt: str = "") -> np.random.Generator:
        """A generator for one call, keyed on the seed and the index of its first suggestion.

        Restarting the operator rebuilds exactly the same stream, so suggestions are the same
        whether a study ran straight through or was interrupted ten times; keying on the
        index (not on how many trials happen to be in the history) keeps it so whatever the
        parallelism.
        """
        return self.index_rng(next_index(history), salt)

    def index_rng(self, index: int, salt: str = "") -> np.random.Generator:
        """A generator that depends only on the seed, ``salt`` and one trial index."""
        digest = hashlib.sha256(f"{salt}/{index}".encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])


class Family(enum.IntEnum):
    """How an algorithm searches; orders the docs table (simple search first)."""

    SIMPLE = 1
    MODEL_BASED = 2
    MULTI_FIDELITY = 3
    POPULATION = 4


@dataclass(frozen=True)
class Algorithm:
    """An algorithm's one declaration: the manifest name, CRD, validation and docs derive
    from it. Each algorithm module sets a module-level ``ALGORITHM = Algorithm(...)``."""

    name: str
    """``spec.algorithm.name``."""
    suggester: type[Suggester[Any]]
    """The class; its ``Settings`` types ``spec.algorithm.settings``."""
    family: Family
    summary: str
    """What it does, in a few words (the docs table's "what")."""
    use_when: str
    """When to choose it (the docs table's "choose it when")."""
    capabilities: Capabilities

    @property
    def settings(self) -> type[AlgorithmSettings]:
        return self.suggester.Settings

    def parse_settings(self, raw: Mapping[str, Any]) -> AlgorithmSettings:
        """Typed settings, or SettingsError naming each bad field under spec.algorithm.settings."""
        try:
            return self.settings.model_validate(dict(raw))
        except ValidationError as error:
            problems = "; ".join(
                f"spec.algorithm.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors()
            )
            raise SettingsError(problems) from None

    def create(self, space: SearchSpace, raw: Mapping[str, Any], seed: int) -> Suggester[Any]:
        """A ready suggester; raises SettingsError or SpaceError naming the field."""
        return self.suggester(space, self.parse_settings(raw), seed)


def fresh(
    space: SearchSpace,
    candidates: Sequence[Params],
    taken: set[tuple[tuple[str, Value], ...]],
    n: int,
) -> list[Suggestion]:
    """The first ``n`` candidates that are neither taken nor repeated; marks them taken."""
    chosen: list[Suggestion] = []
    for params in candidates:
        if len(chosen) == n:
            break
        key = space.canonical(params)
        if key in taken:
            continue
        taken.add(key)
        chosen.append(Suggestion(dict(params)))
    return chosen
