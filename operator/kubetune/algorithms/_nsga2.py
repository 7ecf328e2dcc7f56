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

Fast without state of its own: what a trial contributes (its unit-cube point, key, losses,
violation) is read once and kept by trial index while the record is unchanged
(``_Archive``), and a generation's elite is kept while its members are, so a call costs a
pass over the history's records plus breeding, not a re-read of every trial's values. Both
are caches: a restarted operator rebuilds them from the history and suggests the same.

``ParetoGenetic`` is this machinery; NSGA-II (here) and NSGA-III (``_nsga3``) differ only in
how the elite is cut from the fronts (``survivors``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

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
    TrialRecord,
    TrialState,
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


@dataclass(frozen=True, eq=False)
class _Entry:
    """What the search reads from one trial, kept between calls while the trial is unchanged
    (``_Archive``), so a call reads and encodes only the trials new or changed since the
    last one. Compared by identity: the elite cache is keyed on its entries."""

    trial: TrialRecord
    index: int
    """The trial's index (read once per call for every trial, so kept flat)."""
    finished: bool
    key: bytes
    """Identity of the trial's parameter set (``Geometry.keys``)."""
    point: np.ndarray
    """The parameter set in the unit cube (nan where inactive)."""
    losses: tuple[float, ...] | None
    """Loss vector of a completed trial; None for failed, pruned and running ones."""
    violation: float
    """Total constraint violation of a completed trial (``History.feasibility``); 0 when
    feasible or not completed (a trial without losses ranks last whatever it reported)."""


class _Archive:
    """Every trial's ``_Entry`` by trial index, for one study's objectives and constraints.

    A pure cache: an entry is reused while its trial is the same record, or one in the same
    state with (when completed) the same values: the only things an entry is read from that
    may change, since a trial's parameters never do (they are fixed when it is created; the
    elite cache has always relied on that). A backend may rebuild its records every call
    (the engine does), so equal records must hit the cache too; the local backend keeps a
    finished trial's values object, so those compare by identity. What a call reads is
    exactly what reading the whole history would give.
    """

    def __init__(self, geometry: Geometry) -> None:
        self.geometry = geometry
        self.basis: tuple[object, ...] = ()
        self.objectives = 0
        self.entries: dict[int, _Entry] = {}

    def read(self, history: History) -> list[_Entry]:
        """The entries of ``history.trials``, in order, new ones built in one batch."""
        basis = (history.objectives, history.constraints)
        if basis != self.basis:
            self.basis, self.objectives, self.entries = basis, len(history.objectives), {}
        trials, cached = history.trials, self.entries
        entries = [cached.get(trial.index) for trial in trials]
        # Inlined, as this runs for every trial on every call: see the class docstring.
        stale = [
            trial
            for trial, entry in zip(trials, entries, strict=True)
            if entry is None
            or (
                entry.trial is not trial
                and (
                    entry.trial.state is not trial.state
                    or (
                        trial.state is TrialState.COMPLETE
                        and entry.trial.values is not trial.values
                        and entry.trial.values != trial.values
                    )
                )
            )
        ]
        if not stale:
            return entries  # type: ignore[return-value]  # none is None
        points = self.geometry.encode_many([t.params for t in stale])
        for trial, point, key in zip(stale, points, self.geometry.keys(points), strict=True):
            cached[trial.index] = _entry(history, trial, point, key)
        return [cached[trial.index] for trial in trials]


def _entry(history: History, trial: TrialRecord, point: np.ndarray, key: bytes) -> _Entry:
    completed = trial.state is TrialState.COMPLETE
    losses = history.losses(trial) if completed else None
    violation = history.feasibility(trial).violation if completed and history.constraints else 0.0
    return _Entry(trial, trial.index, trial.state.is_finished(), key, point, losses, violation)


@dataclass(frozen=True)
class _Elite:
    """A generation's parents: unit-cube points, front rank and tournament score (larger
    wins between equal ranks: crowding distance in NSGA-II) of each."""

    points: np.ndarray
    rank: np.ndarray
    crowding: np.ndarray


Survivors = tuple[list[int], np.ndarray, np.ndarray]
"""Kept rows (best first), their front ranks and tournament scores."""

SettingsT = TypeVar("SettingsT", bound=Nsga2Settings)


class ParetoGenetic(Suggester[SettingsT]):
    """The generational machinery NSGA-II and NSGA-III share (see the module docstring);
    they differ only in ``survivors``, how the elite is cut from the finished trials."""

    salt: ClassVar[str]
    """Keys the random streams, so each algorithm has its own."""

    def __init__(self, space: SearchSpace, settings: SettingsT, seed: int) -> None:
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
        self._archive = _Archive(self.geometry)
        # The elite of a generation changes only when a trial before it finishes, so it is
        # kept between calls, keyed by the generation and its members' entries: a pure
        # cache, the suggestions are the same without it.
        self._elites: dict[tuple[object, ...], _Elite | None] = {}

    @abc.abstractmethod
    def survivors(self, losses: np.ndarray, violations: np.ndarray, generation: int) -> Survivors:
        """The elite of ``generation`` among finished trials' loss vectors (nan rows: failed
        or pruned) and total violations: at most ``population_size`` rows."""

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        size = self.population_size
        entries = self._archive.read(history)
        start = max((e.index for e in entries), default=-1) + 1
        chosen: list[Suggestion] = []
        startup = min(n, max(0, size - start))
        if startup:
            chosen = SobolSearch(self.space, NoSettings(), self.seed).suggest(history, startup)
        if len(chosen) == n:
            return chosen
        geometry = self.geometry
        taken = {e.key for e in entries}
        if chosen:
            taken.update(geometry.keys(geometry.encode_many([s.params for s in chosen])))
        rng = self.index_rng(start, self.salt)
        for position in range(start + len(chosen), start + n):
            elite = self._elite(entries, position // size)
            if elite:
                picked = self.variation.fresh_child(self._parents(elite), rng, taken)
            else:
                picked = self.variation.fresh_uniform(rng, taken)
            if not picked:
                break
            chosen += picked
        return chosen

    def _elite(self, entries: list[_Entry], generation: int) -> _Elite | None:
        """The parents of a generation: the elite of all trials finished before it."""
        bound = generation * self.population_size
        members = [e for e in entries if e.finished and e.index < bound]
        key = (generation, *members)
        if key not in self._elites:
            if len(self._elites) >= _REMEMBERED_ELITES:
                self._elites.clear()
            self._elites[key] = self._cut(members, generation) if members else None
        return self._elites[key]

    def _cut(self, members: list[_Entry], generation: int) -> _Elite:
        """The elite of a generation's (non-empty) finished ``members``."""
        nan = (np.nan,) * self._archive.objectives
        losses = np.array([nan if e.losses is None else e.losses for e in members], dtype=float)
        violations = np.array([e.violation for e in members], dtype=float)
        kept, rank, crowding = self.survivors(losses, violations, generation)
        return _Elite(np.array([members[i].point for i in kept]), rank, crowding)

    def _parents(self, elite: _Elite) -> ParentPicker:
        """Two parents of a child, each the winner of a binary tournament in the elite."""

        def pick(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
            first, second = _tournament(elite, rng), _tournament(elite, rng)
            return elite.points[first], elite.points[second]

        return pick


class Nsga2(ParetoGenetic[Nsga2Settings]):
    Settings = Nsga2Settings
    salt = "nsga2"

    def survivors(self, losses: np.ndarray, violations: np.ndarray, generation: int) -> Survivors:
        return _select(losses, self.population_size, violations)


def _select(
    losses: np.ndarray, size: int, violations: np.ndarray | None = None
) -> tuple[list[int], np.ndarray, np.ndarray]:
    """NSGA-II survivor selection among loss vectors (nan rows: no losses, failed or pruned):
    whole fronts (``ranked_fronts``) while they fit, each most spread out first, then the
    most spread-out members of the next. Returns the kept rows, their front ranks and
    crowding distances."""
    fronts, feasible = ranked_fronts(losses, size, violations)
    distance = np.zeros(len(losses))
    for front in fronts[:feasible]:
        distance[front] = _crowding(losses[front])

    def spread_first(front: np.ndarray, room: int) -> list[int]:
        # Most spread out first; equal crowding keeps the earlier trial (rows are in order).
        ordered: list[int] = front[np.lexsort((front, -distance[front]))][:room].tolist()
        return ordered

    kept, ranks = fill(fronts, size, spread_first)
    return kept, ranks, distance[kept]


def ranked_fronts(
    losses: np.ndarray, size: int, violations: np.ndarray | None = None
) -> tuple[list[np.ndarray], int]:
    """Rows by rank under constrained domination: the non-dominated fronts of the feasible
    rows (enough of them to hold ``size`` rows), then infeasible rows (``violations`` > 0),
    each its own front, the least violation first; rows without losses form the last front.
    Returns the fronts and how many of them are feasible ones.

    A row dominated by ``size`` others is never kept (they all rank before it), so it is
    dropped before the quadratic sort; its dominators, with fewer dominators each, all stay,
    so the ranks of the rest do not change.
    """
    violation = np.zeros(len(losses)) if violations is None else violations
    has_losses = ~np.isnan(losses).any(axis=1)
    scored = np.flatnonzero(has_losses & (violation <= 0))
    scored = scored[domination_counts(losses[scored]) < size]
    fronts = [scored[front] for front in non_dominated_fronts(losses[scored], enough=size)]
    feasible = len(fronts)
    infeasible = np.flatnonzero(has_losses & (violation > 0))
    ordered = infeasible[np.lexsort((infeasible, violation[infeasible]))][:size]
    fronts += [np.array([row]) for row in ordered]
    fronts.append(np.flatnonzero(~has_losses))
    return fronts, feasible


def fill(
    fronts: list[np.ndarray], size: int, cut: Callable[[np.ndarray, int], list[int]]
) -> tuple[list[int], np.ndarray]:
    """Up to ``size`` rows, front by front: ``cut(front, room)`` orders each front and keeps
    at most ``room`` of it (all of it when it fits). Returns the rows and their ranks."""
    kept: list[int] = []
    ranks: list[int] = []
    for rank, front in enumerate(fronts):
        room = size - len(kept)
        if room <= 0:
            break
        ordered = cut(front, room)
        kept += ordered
        ranks += [rank] * len(ordered)
    return kept, np.array(ranks)


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
