"""Population-Based Training (Jaderberg et al., 2017; Ray Tune's ``PopulationBasedTraining``).

A population of ``populationSize`` members trains in *segments* of the study's training
resource (``spec.budget.resource``), and **each segment is one trial**: segment ``g`` of a
member runs with ``${budget}`` = ``min + g · perturbationInterval`` (capped at ``max``), the
cumulative resource at which it ends, starting from the checkpoint of the trial before it
(``Suggestion.restore_from``; the trial gets ``KUBETUNE_RESTORE_FROM``). When a member's
segment ends, it is ranked among the segments of the same generation finished so far (each
member's latest), so members are always compared after equal training:

* in the bottom ``quantile`` it **exploits** a random member of the top ``quantile`` — takes
  that trial's hyperparameters and checkpoint — and **explores**: every number is multiplied
  by one of ``perturbationFactors`` (within its bounds, on its integer or step grid), and each
  parameter is resampled instead with ``resampleProbability`` (categoricals are only ever
  resampled);
* otherwise it continues from its own checkpoint with its own hyperparameters.

Either way the next segment is one generation on, so without failures the study takes
exactly ``populationSize × segments`` trials. A member whose segment failed or was stopped
has no checkpoint to continue from: it trains that segment again from the best trial of the
generation before, explored as if it had exploited it (a failed first segment starts afresh
with new hyperparameters); each failure costs one more trial. A member is done once a
segment ending at ``max`` completed; the study ends when every member is.

Asynchronous by default: a member moves on as soon as its own segment ends, so parallel
slots never wait (the first members to finish a generation are ranked among fewer peers).
With ``synchronous`` a member waits until every member has finished its generation, so each
is ranked among all. The member that has trained least goes
first when slots are scarce.

Nothing is kept between calls: members, generations and parents are read back from the
trials' attributes (``LineageAttribute``) on every call, and the random draws of a new trial
depend only on the seed and its index, so a restarted operator continues the same lineage.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from pydantic import Field, PositiveFloat

from kubetune.algorithms.base import (
    Algorithm,
    Family,
    History,
    ResourceSettings,
    Suggester,
    Suggestion,
    TrialRecord,
    TrialState,
    next_index,
)
from kubetune.api.attributes import AttributeValue, LineageAttribute
from kubetune.api.capabilities import Capabilities
from kubetune.api.study import NO_RULE, StudySpec
from kubetune.space import Parameter, Params, SearchSpace, Value

DEFAULT_POPULATION = 8
"""Members unless ``populationSize`` says otherwise (Ray Tune's examples use 4 to 16)."""

RELATIVE_TOLERANCE = 1e-9
"""A segment end this close (relatively) to ``maxResource`` is ``maxResource``."""


class Retention(enum.StrEnum):
    """Which checkpoints a study keeps."""

    NEEDED = "needed"
    """Only those a later trial may still restore from, and the best trial's."""
    ALL = "all"
    """Every trial's checkpoint."""


class PbtSettings(ResourceSettings):
    """Settings of ``pbt`` (camelCase in manifests)."""

    NEEDS_RESOURCE: ClassVar[str] = "pbt trains in segments of the training resource"

    population_size: int | None = Field(
        default=None,
        ge=2,
        description=f"Members trained side by side; default {DEFAULT_POPULATION}.",
    )
    perturbation_interval: float | None = Field(
        default=None,
        gt=0,
        description="Resource (units of spec.budget.resource) each segment trains after the "
        "first, which ends at resource.min. Default: resource.min.",
    )
    quantile: float = Field(
        default=0.25,
        gt=0,
        le=0.5,
        description="Fraction of members in the bottom group (exploit) and the top group "
        "(exploited).",
    )
    resample_probability: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Chance each hyperparameter of an exploiting member is drawn afresh "
        "instead of perturbed (categoricals are otherwise kept).",
    )
    perturbation_factors: list[PositiveFloat] = Field(
        default_factory=lambda: [0.8, 1.2],
        min_length=1,
        description="Factors a number is multiplied by when explored, one drawn at random.",
    )
    synchronous: bool = Field(
        default=False,
        description="Wait until every member finished a generation before any moves on.",
    )
    keep_checkpoints: Retention = Field(
        default=Retention.NEEDED,
        description="needed: delete checkpoints no running or future trial restores from "
        "(the best trial's is always kept); all: keep every trial's.",
    )
    min_resource: float | None = Field(
        default=None, gt=0, description="Where the first segment ends. Default: resource.min."
    )
    max_resource: float | None = Field(
        default=None, gt=0, description="Where the last segment ends. Default: resource.max."
    )


@dataclass(frozen=True)
class Schedule:
    """Where each segment ends: ``start``, then every ``interval``, the last at ``end``."""

    start: float
    end: float
    interval: float

    @property
    def segments(self) -> int:
        return 1 + math.ceil((self.end - self.start) / self.interval - RELATIVE_TOLERANCE)

    def budget(self, generation: int) -> float:
        """The cumulative resource at which segment ``generation`` ends (its ``${budget}``)."""
        level = self.start + generation * self.interval
        return self.end if level >= self.end * (1 - RELATIVE_TOLERANCE) else level


def lineage_number(trial: TrialRecord, key: str) -> int | None:
    """A whole-number lineage attribute (member, generation, parent), or None when absent.
    A cluster may hand a whole float back (``2.0``); it counts as the number."""
    value = trial.attributes.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


class Pbt(Suggester[PbtSettings]):
    Settings = PbtSettings

    def __init__(self, space: SearchSpace, settings: PbtSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        self.population_size = settings.population_size or DEFAULT_POPULATION
        # The validators above guarantee both; "or" only satisfies the type checker.
        start = settings.min_resource or 1.0
        interval = settings.perturbation_interval or start
        self.schedule = Schedule(start, settings.max_resource or start + interval, interval)

    # -- the contract ---------------------------------------------------------------------

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        members = self._members(history)
        start = next_index(history)
        ready = self._ready(members, history)
        return [
            self._next_segment(member, members, history, start + k)
            for k, member in enumerate(ready[:n])
        ]

    def study_problems(self, spec: StudySpec) -> list[str]:
        problems = []
        if spec.initial_trials:
            problems.append(
                "spec.initialTrials: pbt draws its population itself and every trial belongs "
                "to a member, remove initialTrials"
            )
        if spec.early_stopping.rule != NO_RULE:
            problems.append(
                "spec.earlyStopping.rule: pbt judges every segment itself when it ends (a "
                "stopped segment leaves no checkpoint to continue), set it to none"
            )
        needed = self.population_size * self.schedule.segments
        if needed > spec.budget.max_trials:
            fits = spec.budget.max_trials // self.schedule.segments
            problems.append(
                f"spec.algorithm.settings.populationSize: {self.population_size} "
                f"members × {self.schedule.segments} segments (resource "
                f"{self.schedule.start:g} to {self.schedule.end:g}, every "
                f"perturbationInterval {self.schedule.interval:g}) need {needed} trials, more "
                f"than spec.budget.maxTrials ({spec.budget.max_trials}): raise maxTrials to "
                f"{needed}, lower populationSize to {fits} or lengthen perturbationInterval"
            )
        return problems

    def checkpoints_needed(self, history: History) -> set[int] | None:
        """Running trials, their parents, and every completed trial of a generation some
        member is still to be ranked at (its latest one) or retrains from (the one before a
        failed segment)."""
        if self.settings.keep_checkpoints is Retention.ALL:
            return None
        needed: set[int] = set()
        generations: set[int] = set()
        for member in self._members(history):
            latest = member.latest
            if latest is None:
                continue
            generations.add(_generation(latest))
            if latest.state is TrialState.RUNNING:
                needed.add(latest.index)
                parent = lineage_number(latest, LineageAttribute.PARENT)
                needed |= {parent} if parent is not None else set()
            elif not _completed(history, latest):
                generations.add(_generation(latest) - 1)
        needed |= {
            t.index
            for t in history.trials
            if _completed(history, t) and _generation(t) in generations
        }
        return needed

    def finished_message(self, history: History) -> str | None:
        members = self._members(history)
        if not all(m.latest is not None and self._done(history, m.latest) for m in members):
            return None
        return (
            f"every member of the population ({len(members)}) trained to resource.max "
            f"({self.schedule.end:g}) in {self.schedule.segments} segments"
        )

    # -- the population -------------------------------------------------------------------

    def _members(self, history: History) -> list[_Member]:
        trials: list[list[TrialRecord]] = [[] for _ in range(self.population_size)]
        for trial in history.trials:
            number = lineage_number(trial, LineageAttribute.MEMBER)
            if number is not None and 0 <= number < len(trials):
                trials[number].append(trial)
        return [_Member(i, tuple(sorted(t, key=lambda r: r.index))) for i, t in enumerate(trials)]

    def _done(self, history: History, trial: TrialRecord) -> bool:
        return _completed(history, trial) and _generation(trial) >= self.schedule.segments - 1

    def _ready(self, members: Sequence[_Member], history: History) -> list[_Member]:
        """Members that may start a segment now, least trained first."""
        ready: list[tuple[int, int, _Member]] = []
        for member in members:
            latest = member.latest
            if latest is None:
                ready.append((-1, member.number, member))
            elif latest.state.is_finished() and not self._done(history, latest):
                generation = _generation(latest)
                if not self.settings.synchronous or all(m.reached(generation) for m in members):
                    ready.append((generation, member.number, member))
        return [member for *_, member in sorted(ready, key=lambda r: r[:2])]

    def _next_segment(
        self, member: _Member, members: Sequence[_Member], history: History, index: int
    ) -> Suggestion:
        rng = self.index_rng(index, "pbt")
        latest = member.latest
        if latest is None:
            return self._first_segment(member.number, self.index_rng(member.number, "pbt-member"))
        generation = _generation(latest)
        if _completed(history, latest):
            pool = _ranking_pool(members, history, generation)
            donor = self._donor(latest, pool, rng)
            if donor is None:
                return self._segment(member.number, dict(latest.params), latest, exploited=False)
            return self._segment(member.number, self._explore(donor.params, rng), donor, True)
        # Failed or stopped, so no checkpoint of its own: the segment is trained again from
        # the best state of the generation before, explored.
        pool = _ranking_pool(members, history, generation - 1)
        if not pool:
            return self._first_segment(member.number, rng)
        return self._segment(member.number, self._explore(pool[0].params, rng), pool[0], True)

    def _first_segment(self, member: int, rng: np.random.Generator) -> Suggestion:
        return Suggestion(
            self.space.sample(rng, 1)[0],
            budget=self.schedule.budget(0),
            attributes={LineageAttribute.MEMBER: member, LineageAttribute.GENERATION: 0},
        )

    def _segment(
        self, member: int, params: dict[str, Value], parent: TrialRecord, exploited: bool
    ) -> Suggestion:
        generation = _generation(parent) + 1
        attributes: dict[str, AttributeValue] = {
            LineageAttribute.MEMBER: member,
            LineageAttribute.GENERATION: generation,
            LineageAttribute.PARENT: parent.index,
            LineageAttribute.EXPLOITED: exploited,
        }
        return Suggestion(
            params,
            budget=self.schedule.budget(min(generation, self.schedule.segments - 1)),
            attributes=attributes,
            restore_from=parent.index,
        )

    def _donor(
        self, trial: TrialRecord, pool: Sequence[TrialRecord], rng: np.random.Generator
    ) -> TrialRecord | None:
        """A top-quantile trial to exploit when ``trial`` is in the bottom quantile, else None."""
        count = quantile_count(len(pool), self.settings.quantile)
        if count == 0 or trial.index not in {t.index for t in pool[-count:]}:
            return None
        return pool[int(rng.integers(count))]

    # -- exploration ----------------------------------------------------------------------

    def _explore(self, params: Params, rng: np.random.Generator) -> dict[str, Value]:
        """``params`` perturbed: numbers scaled by a factor, anything resampled with
        ``resampleProbability``; a parameter a changed choice activates is drawn afresh."""
        values: dict[str, Value] = {}
        for parameter in self.space.parameters:
            fresh = parameter.name not in params
            if fresh or rng.random() < self.settings.resample_probability:
                values[parameter.name] = parameter.from_unit(rng.random())
            elif parameter.is_categorical:
                values[parameter.name] = params[parameter.name]
            else:
                values[parameter.name] = self._perturb(parameter, params[parameter.name], rng)
        return self.space.decode_values(values)

    def _perturb(self, parameter: Parameter, value: Value, rng: np.random.Generator) -> Value:
        """``value`` times a random factor, clipped to the bounds and, for a discrete
        parameter, put on its integer or step grid (through its unit-cube coordinate)."""
        factors = self.settings.perturbation_factors
        scaled = float(value) * factors[int(rng.integers(len(factors)))]
        clipped = min(max(scaled, parameter.low), parameter.high)
        if parameter.levels is None:
            return clipped
        return parameter.from_unit(parameter.to_unit(clipped))


@dataclass(frozen=True)
class _Member:
    """One member of the population: its trials in index order."""

    number: int
    trials: tuple[TrialRecord, ...]

    @property
    def latest(self) -> TrialRecord | None:
        return self.trials[-1] if self.trials else None

    def reached(self, generation: int) -> bool:
        """Whether the member is through ``generation``: a trial of it or a later one has
        finished, or the member already trains a later one."""
        latest = self.latest
        if latest is not None and latest.state is TrialState.RUNNING:
            return _generation(latest) > generation
        return any(t.state.is_finished() and _generation(t) >= generation for t in self.trials)


def quantile_count(members: int, quantile: float) -> int:
    """How many members the top and the bottom group each hold (Ray Tune's rule): a
    ``quantile`` of them rounded up, but never more than half, so the groups never meet."""
    return min(math.ceil(members * quantile), members // 2)


def _generation(trial: TrialRecord) -> int:
    return lineage_number(trial, LineageAttribute.GENERATION) or 0


def _completed(history: History, trial: TrialRecord) -> bool:
    return trial.state is TrialState.COMPLETE and history.loss(trial) is not None


def _ranking_pool(
    members: Sequence[_Member], history: History, generation: int
) -> list[TrialRecord]:
    """The trials a segment of ``generation`` is ranked among, best first: each member's
    latest completed trial of that generation (so members are compared after equal
    training); ties go to the earlier trial."""
    pool = []
    for member in members:
        completed = [
            t for t in member.trials if _generation(t) == generation and _completed(history, t)
        ]
        if completed:
            pool.append(completed[-1])
    return sorted(pool, key=lambda t: (_loss(history, t), t.index))


def _loss(history: History, trial: TrialRecord) -> float:
    loss = history.loss(trial)
    return math.inf if loss is None else loss


ALGORITHM = Algorithm(
    name="pbt",
    suggester=Pbt,
    family=Family.POPULATION,
    summary="population-based training: poor members take over better members' checkpoints "
    "with perturbed hyperparameters, segment by segment",
    use_when="training that checkpoints, where the best hyperparameters change during "
    "training (learning-rate schedules); the result is a schedule",
    capabilities=Capabilities(needs_resource=True, population=True, checkpoints=True),
)
