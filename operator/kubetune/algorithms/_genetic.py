"""A single-objective genetic algorithm for mixed and conditional spaces.

Trials are cut into generations by index: generation ``g`` is trials ``[g * P, (g + 1) * P)``
for a population size ``P``; generation 0 is a scrambled Sobol sample. The breeding pool of
generation ``g`` is rebuilt from the history on every call, from the trials finished before
it (by index):

* the previous generation's finished members (a generational algorithm: children replace
  their parents),
* plus the ``elitism`` best trials of all earlier generations, so the best found so far is
  never lost,
* topped up with the next best earlier trials while the pool is short of ``P`` (the previous
  generation still running, or mostly failed).

A child gets two parents, each the best of ``tournamentSize`` pool members drawn at random,
and is bred by ``_variation`` (shared with ``nsga2``): blend (BLX-alpha) or simulated binary
crossover for numbers on their unit-cube coordinate, so log scales are respected; uniform
crossover for categorical parameters; mutation that moves integers and stepped values to a
nearby value and categoricals to another choice; snapped and decoded through the space, so
conditional parameters follow their parents. A child equal to a taken parameter set
(running or finished) is bred again.

Asynchronous (steady-state) by construction: a child needs only trials already finished, so
parallel trials never wait for a generation to complete, and since the pool depends only on
the history and the stream of random numbers only on the seed and the trial index, a
restarted operator suggests the same.

Ranking, best first: completed trials by loss; then pruned trials by the loss at their last
reported step (early stopping judged them, on partial training, to be worse than the trials
that ran to the end, but among themselves the intermediate loss still orders them); then
failed trials and pruned ones that reported nothing, which lose every tournament they meet
another trial in.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._sobol import SobolSearch
from kubetune.algorithms._variation import Crossover, ParentPicker, Variation
from kubetune.algorithms.base import (
    Algorithm,
    AlgorithmSettings,
    Family,
    History,
    NoSettings,
    Suggester,
    Suggestion,
    TrialRecord,
    TrialState,
    next_index,
)
from kubetune.api.capabilities import Capabilities
from kubetune.space import SearchSpace

DEFAULT_POPULATION = 10
"""Trials per generation unless ``populationSize`` says otherwise: small, so a budget of
100 trials sees about ten generations of selection."""


class GeneticSettings(AlgorithmSettings):
    """Settings of ``genetic`` (camelCase in manifests)."""

    population_size: int | None = Field(
        default=None,
        ge=2,
        description=f"Trials per generation; default {DEFAULT_POPULATION}. Generation 0 is a "
        "Sobol sample of this size.",
    )
    tournament_size: int = Field(
        default=3,
        ge=1,
        description="Pool members drawn per parent; the best of them breeds. Larger selects "
        "harder; 1 picks parents at random. At most populationSize.",
    )
    elitism: int = Field(
        default=2,
        ge=0,
        description="Best trials of all earlier generations kept in every breeding pool. At "
        "most populationSize.",
    )
    crossover: Crossover = Field(
        default=Crossover.BLEND,
        description="How numbers are crossed on their unit-cube coordinate: blend (BLX-alpha) "
        "or sbx (simulated binary crossover).",
    )
    crossover_probability: float = Field(
        default=0.9, ge=0, le=1, description="Chance a child mixes two parents (else copies one)."
    )
    blend_alpha: float = Field(
        default=0.5,
        ge=0,
        le=2,
        description="Blend crossover: how far beyond the parents' interval a child may land, "
        "as a fraction of its length on each side.",
    )
    crossover_eta: float = Field(
        default=15.0,
        gt=0,
        description="SBX distribution index: larger stays closer to the parents.",
    )
    mutation_rate: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Chance each parameter of a child is mutated; default 1 / number of "
        "parameters.",
    )
    mutation_eta: float = Field(
        default=20.0,
        gt=0,
        description="Distribution index of polynomial mutation: larger makes smaller steps.",
    )

    @field_validator("tournament_size", "elitism")
    @classmethod
    def _within_population(cls, value: int, info: ValidationInfo) -> int:
        population = info.data.get("population_size") or DEFAULT_POPULATION
        if value > population:
            raise ValueError(f"must be at most populationSize ({population}), got {value}")
        return value


class Genetic(Suggester[GeneticSettings]):
    Settings = GeneticSettings

    def __init__(self, space: SearchSpace, settings: GeneticSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        self.population_size = settings.population_size or DEFAULT_POPULATION
        self.geometry = Geometry.of(space)
        self.variation = Variation(
            self.geometry,
            settings.crossover,
            crossover_probability=settings.crossover_probability,
            swapping_probability=0.5,
            mutation_probability=settings.mutation_rate or 1.0 / max(1, space.dims),
            crossover_eta=settings.crossover_eta,
            mutation_eta=settings.mutation_eta,
            blend_alpha=settings.blend_alpha,
        )

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        size = self.population_size
        start = next_index(history)
        chosen: list[Suggestion] = []
        startup = min(n, max(0, size - start))
        if startup:
            chosen = SobolSearch(self.space, NoSettings(), self.seed).suggest(history, startup)
        if len(chosen) == n:
            return chosen
        geometry = self.geometry
        encoded = geometry.encode_many(
            [t.params for t in history.trials] + [s.params for s in chosen]
        )
        taken = set(geometry.keys(encoded))
        ranked = _ranked(history)
        for index in range(start + len(chosen), start + n):
            rng = self.index_rng(index, "genetic")
            pool = self._pool(history, ranked, index // size)
            if pool:
                picked = self.variation.fresh_child(self._parents(encoded[pool]), rng, taken)
            else:
                picked = self.variation.fresh_uniform(rng, taken)
            if not picked:
                break
            chosen += picked
        return chosen

    def _pool(self, history: History, ranked: list[int], generation: int) -> list[int]:
        """Positions in ``history.trials`` of generation ``generation``'s breeding pool, best
        first: the previous generation's finished members, the elite of all earlier ones,
        topped up with the next best earlier trials up to the population size."""
        size, elitism = self.population_size, self.settings.elitism
        trials = history.trials
        earlier = [p for p in ranked if trials[p].index < generation * size]
        previous = {p for p in earlier if trials[p].index >= (generation - 1) * size}
        pool = previous | set(earlier[:elitism])
        for position in earlier:
            if len(pool) >= size:
                break
            pool.add(position)
        return [p for p in earlier if p in pool]

    def _parents(self, points: np.ndarray) -> ParentPicker:
        """Two parents of a child, each the best of a tournament among the pool's ``points``
        (rows best first, so the lowest row drawn wins)."""
        tournament = min(self.settings.tournament_size, len(points))

        def pick(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            first = rng.choice(len(points), size=tournament, replace=False).min()
            second = rng.choice(len(points), size=tournament, replace=False).min()
            return points[first], points[second]

        return pick


def _ranked(history: History) -> list[int]:
    """Positions in ``history.trials`` of every finished trial, best first (see the module
    docstring); equal keys keep the earlier trial first."""
    keyed = [
        (_rank_key(history, trial), trial.index, position)
        for position, trial in enumerate(history.trials)
        if trial.state.is_finished()
    ]
    return [position for *_, position in sorted(keyed)]


def _rank_key(history: History, trial: TrialRecord) -> tuple[int, float]:
    """(tier, loss): 0 completed, 1 pruned by its last intermediate loss, 2 no loss at all."""
    if trial.state is TrialState.COMPLETE:
        loss = history.loss(trial)
        if loss is not None:
            return 0, loss
    elif trial.state is TrialState.PRUNED:
        reported = history.intermediate_losses(trial)
        if reported:
            return 1, reported[-1][1]
    return 2, math.inf


ALGORITHM = Algorithm(
    name="genetic",
    suggester=Genetic,
    family=Family.POPULATION,
    summary="genetic algorithm: tournament selection, crossover, mutation, elitism",
    use_when="one objective, mixed or conditional spaces, cheap suggestions, many parallel trials",
    capabilities=Capabilities(population=True),
)
