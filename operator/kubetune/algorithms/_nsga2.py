"""NSGA-II: an evolutionary search for the Pareto front of several objectives (Deb et al. 2002).

Trials are cut into generations by index: generation ``g`` is trials ``[g * P, (g + 1) * P)``
for a population size ``P``. Generation 0 is a scrambled Sobol sample. The parents of
generation ``g`` are the *elite* of every trial finished before it (by index), rebuilt from
the history on every call: ranked by non-dominated front and, within the last front that
fits, by crowding distance (the spread along the front), cut to ``P``. This is NSGA-II's
(mu + lambda) survivor selection over the whole archive rather than over the last parents
and children only, so a trial that finishes late still competes, and nothing but the history
is needed to rebuild it.

A child is bred from two parents picked by binary tournament (lower front wins, then larger
crowding distance) by crossover and mutation in the search space's unit cube, so log scales
are respected: simulated binary crossover and polynomial mutation for numbers, uniform
crossover and a change of choice for categorical parameters (``_variation``, shared with
``genetic``); the result is snapped onto the space so integers, steps and choices are exact,
and decoded through the space so conditional parameters follow their parents.

Asynchronous by construction: a child needs only the trials already finished, so parallel
trials never wait for a generation to complete; a trial still running when the next
generation is bred competes for the elite of the generations after it (and while nothing
before a generation has finished, its trials are drawn uniformly). Running trials only keep
their parameter sets from being suggested again. Failed and pruned trials rank behind every
completed one, so they lose every tournament they meet a completed trial in. With a single
objective, fronts are ties in loss and NSGA-II is a plain elitist genetic algorithm.

Constraints use Deb's constrained domination: every feasible trial ranks before every
infeasible one, and infeasible trials rank among themselves by their total violation
(``History.feasibility``), the least first, so the search is pulled towards the feasible
region until it finds it and then spreads along the feasible front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

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
    TrialState,
    next_index,
)
from kubetune.api.capabilities import Capabilities
from kubetune.hypervolume import domination_counts, non_dominated_fronts
from kubetune.space import SearchSpace

# Trials per generation unless populationSize says otherwise: small enough that a budget of
# 100-200 trials sees several generations of selection.
DEFAULT_POPULATION = 20

# Elites kept between calls; a running study needs one or two (the current generation's).
_REMEMBERED_ELITES = 4


class Nsga2Settings(AlgorithmSettings):
    """Settings of ``nsga2`` (camelCase in manifests)."""

    population_size: int | None = Field(
        default=None,
        ge=2,
        description=f"Trials per generation; default {DEFAULT_POPULATION}. Generation 0 is a "
        "Sobol sample of this size.",
    )
    crossover_probability: float = Field(
        default=0.9, ge=0, le=1, description="Chance a child mixes two parents (else copies one)."
    )
    swapping_probability: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Chance each parameter of a crossed-over child comes from the second parent.",
    )
    mutation_probability: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Chance each parameter is mutated; default 1 / number of parameters.",
    )
    crossover_eta: float = Field(
        default=15.0,
        gt=0,
        description="Distribution index of simulated binary crossover: larger stays closer "
        "to the parents.",
    )
    mutation_eta: float = Field(
        default=20.0,
        gt=0,
        description="Distribution index of polynomial mutation: larger makes smaller steps.",
    )


@dataclass(frozen=True)
class _Elite:
    """A generation's parents: unit-cube points, front rank and crowding distance of each."""

    points: np.ndarray
    rank: np.ndarray
    crowding: np.ndarray


class Nsga2(Suggester[Nsga2Settings]):
    Settings = Nsga2Settings

    def __init__(self, space: SearchSpace, settings: Nsga2Settings, seed: int) -> None:
        super().__init__(space, settings, seed)
        self.population_size = settings.population_size or DEFAULT_POPULATION
        self.geometry = Geometry.of(space)
        self.variation = Variation(
            self.geometry,
            Crossover.SBX,
            crossover_probability=settings.crossover_probability,
            swapping_probability=settings.swapping_probability,
            mutation_probability=settings.mutation_probability or 1.0 / max(1, space.dims),
            crossover_eta=settings.crossover_eta,
            mutation_eta=settings.mutation_eta,
        )
        # The elite of a generation changes only when a trial before it finishes, so it is
        # kept between calls, keyed by the members' positions and losses (a trial's
        # parameters never change): a pure cache, the suggestions are the same without it.
        self._elites: dict[bytes, _Elite | None] = {}

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
        taken = set(
            geometry.keys(
                geometry.encode_many(
                    [t.params for t in history.trials] + [s.params for s in chosen]
                )
            )
        )
        rng = self.rng(history, "nsga2")
        losses, violations = _losses(history), _violations(history)
        variation = self.variation
        for position in range(start + len(chosen), start + n):
            elite = self._elite(history, losses, violations, position // size)
            if elite:
                picked = variation.fresh_child(self._parents(elite), rng, taken)
            else:
                picked = variation.fresh_uniform(rng, taken)
            if not picked:
                break
            chosen += picked
        return chosen

    def _elite(
        self, history: History, losses: np.ndarray, violations: np.ndarray, generation: int
    ) -> _Elite | None:
        """The parents of a generation: the elite of all trials finished before it."""
        size = self.population_size
        members = [
            position
            for position, trial in enumerate(history.trials)
            if trial.state.is_finished() and trial.index < generation * size
        ]
        key = (
            np.array(members, dtype=float).tobytes()
            + losses[members].tobytes()
            + violations[members].tobytes()
        )
        if key not in self._elites:
            if len(self._elites) >= _REMEMBERED_ELITES:
                self._elites.clear()
            self._elites[key] = None
            if members:
                kept, rank, crowding = _select(losses[members], size, violations[members])
                params = [history.trials[members[i]].params for i in kept]
                self._elites[key] = _Elite(self.geometry.encode_many(params), rank, crowding)
        return self._elites[key]

    def _parents(self, elite: _Elite) -> ParentPicker:
        """Two parents of a child, each the winner of a binary tournament in the elite."""

        def pick(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            first, second = _tournament(elite, rng), _tournament(elite, rng)
            return elite.points[first], elite.points[second]

        return pick


def _losses(history: History) -> np.ndarray:
    """Loss vectors of all trials (n, objectives); rows of trials without losses are nan."""
    rows = [history.losses(t) if t.state is TrialState.COMPLETE else None for t in history.trials]
    nan = (np.nan,) * len(history.objectives)
    return np.array([nan if row is None else row for row in rows], dtype=float).reshape(
        len(rows), len(nan)
    )


def _violations(history: History) -> np.ndarray:
    """Total constraint violation of each trial (0: feasible or no constraints)."""
    if not history.constraints:
        return np.zeros(len(history.trials))
    return np.array([history.feasibility(t).violation for t in history.trials], dtype=float)


def _select(
    losses: np.ndarray, size: int, violations: np.ndarray | None = None
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """NSGA-II survivor selection among loss vectors (nan rows: no losses, failed or pruned):
    whole fronts of feasible rows while they fit, then the most spread-out members of the
    next; then infeasible rows (``violations`` > 0), each its own front, the least violation
    first; rows without losses form the last front. Returns the kept rows, their front ranks
    and crowding.

    A row dominated by ``size`` others is never kept (they all rank before it), so it is
    dropped before the quadratic sort; its dominators, with fewer dominators each, all stay,
    so the ranks of the rest do not change.
    """
    violation = np.zeros(len(losses)) if violations is None else violations
    has_losses = ~np.isnan(losses).any(axis=1)
    scored = np.flatnonzero(has_losses & (violation <= 0))
    scored = scored[domination_counts(losses[scored]) < size]
    distance = np.zeros(len(losses))
    fronts: list[np.ndarray] = []
    for front in non_dominated_fronts(losses[scored], enough=size):
        fronts.append(scored[front])
        distance[fronts[-1]] = _crowding(losses[fronts[-1]])
    infeasible = np.flatnonzero(has_losses & (violation > 0))
    ordered = infeasible[np.lexsort((infeasible, violation[infeasible]))][:size]
    fronts += [np.array([row]) for row in ordered]
    fronts.append(np.flatnonzero(~has_losses))
    kept: list[int] = []
    ranks: list[int] = []
    for rank, front in enumerate(fronts):
        room = size - len(kept)
        if room <= 0:
            break
        # Most spread out first; equal crowding keeps the earlier trial (rows are in order).
        ordered = front[np.lexsort((front, -distance[front]))][:room]
        kept += ordered.tolist()
        ranks += [rank] * len(ordered)
    return kept, np.array(ranks), distance[kept]


def _crowding(values: np.ndarray) -> np.ndarray:
    """Crowding distance of each point of one front: the normalized perimeter of the box its
    neighbours along every objective span; the extremes of each objective get infinity."""
    count, objectives = values.shape
    distance = np.zeros(count)
    if count <= 2:
        return np.full(count, np.inf)
    for k in range(objectives):
        order = np.argsort(values[:, k], kind="stable")
        column = values[order, k]
        spread = column[-1] - column[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if spread > 0:
            distance[order[1:-1]] += (column[2:] - column[:-2]) / spread
    return distance


def _tournament(elite: _Elite, rng: np.random.Generator) -> int:
    """Binary tournament: of two random members, the lower front wins, then the larger
    crowding distance; a full tie goes to the first drawn."""
    count = len(elite.rank)
    if count == 1:
        return 0
    a, b = (int(i) for i in rng.choice(count, size=2, replace=False))
    if (elite.rank[b], -elite.crowding[b]) < (elite.rank[a], -elite.crowding[a]):
        return b
    return a


ALGORITHM = Algorithm(
    name="nsga2",
    suggester=Nsga2,
    family=Family.POPULATION,
    summary="NSGA-II genetic algorithm",
    use_when="several objectives (a Pareto front), many parallel trials",
    capabilities=Capabilities(several_objectives=True, constraints=True, population=True),
)
