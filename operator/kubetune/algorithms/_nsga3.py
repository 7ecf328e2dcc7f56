"""NSGA-III: NSGA-II with reference directions instead of crowding, for 3 or more objectives
(Deb and Jain 2014).

With many objectives almost every point of a population is non-dominated, and crowding
distance, which NSGA-II uses to keep the spread-out members of the last front that fits,
loses its meaning: it favours the extremes of each objective and leaves the middle of the
front thin. NSGA-III instead spreads the elite over a fixed set of *reference directions*,
the Das–Dennis lattice of the unit simplex (every way to split ``referenceDivisions`` equal
parts among the objectives). The last front that fits is cut by *niching*: the elite's
losses are normalized (translated to the ideal point, scaled by the intercepts of the
hyperplane through the extreme points, or by the front's range where that plane is
degenerate), each member is associated with the nearest direction (perpendicular distance),
and the room left is filled one member at a time from the direction with the fewest members
so far (ties drawn at random): the member closest to it when it has none yet, else any.

Everything else is ``nsga2``'s (``ParetoGenetic``): generations by trial index, the elite of
every trial finished before a generation, constrained domination, binary tournaments (lower
front wins; between equal fronts, the first drawn, since niching already spread the elite),
the same crossover and mutation, restart-safe and asynchronous. The niching draws come from
a stream keyed on the seed and the generation, so the elite is the same after a restart.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from pydantic import Field

from kubetune.algorithms._nsga2 import (
    Nsga2Settings,
    ParetoGenetic,
    Survivors,
    fill,
    ranked_fronts,
)
from kubetune.algorithms.base import Algorithm, Family
from kubetune.api.capabilities import Capabilities

MAX_DIVISIONS = 100
"""Upper bound of ``referenceDivisions``: with 4 objectives 100 divisions already make
176,851 directions, far more than any population."""

_DEGENERATE = 1e-10
"""Intercepts or ranges smaller than this are degenerate (a flat or single-point front)."""


class Nsga3Settings(Nsga2Settings):
    """Settings of ``nsga3`` (camelCase in manifests): those of ``nsga2`` and the lattice."""

    reference_divisions: int | None = Field(
        default=None,
        ge=1,
        le=MAX_DIVISIONS,
        description="Parts each objective's share is split into for the Das-Dennis reference "
        "directions (C(divisions + objectives - 1, objectives - 1) directions); default the "
        "largest that makes at most populationSize directions.",
    )


class Nsga3(ParetoGenetic[Nsga3Settings]):
    Settings = Nsga3Settings
    salt = "nsga3"

    def survivors(self, losses: np.ndarray, violations: np.ndarray, generation: int) -> Survivors:
        size = self.population_size
        objectives = losses.shape[1]
        divisions = self.settings.reference_divisions or default_divisions(objectives, size)
        directions = reference_directions(objectives, divisions)
        fronts, _ = ranked_fronts(losses, size, violations)
        rng = self.index_rng(generation, "nsga3-niching")
        kept: list[int] = []

        def cut(front: np.ndarray, room: int) -> list[int]:
            # Only a feasible front is niched: the rest are single infeasible rows, or the
            # rows without losses (nan), kept in trial order.
            if len(front) <= room or np.isnan(losses[front]).any():
                rows: list[int] = front[:room].tolist()
            else:
                rows = niche(losses, kept, front, room, directions, rng)
            kept.extend(rows)
            return rows

        kept_rows, ranks = fill(fronts, size, cut)
        return kept_rows, ranks, np.zeros(len(kept_rows))


def default_divisions(objectives: int, population: int) -> int:
    """The most divisions whose lattice has at most ``population`` directions (at least 1)."""
    if objectives <= 1:
        return 1
    divisions = 1
    while math.comb(divisions + objectives, objectives - 1) <= population:
        divisions += 1
    return divisions


@functools.cache
def reference_directions(objectives: int, divisions: int) -> np.ndarray:
    """The Das–Dennis lattice: every point of the unit simplex whose coordinates are
    multiples of ``1 / divisions``, one row each, in a fixed order (cached: not to be
    modified)."""
    if objectives <= 1:
        return np.ones((1, 1))
    rows = []
    # Stars and bars: the positions of objectives - 1 bars among divisions + objectives - 1
    # slots split the divisions into one share per objective.
    for bars in itertools.combinations(range(divisions + objectives - 1), objectives - 1):
        edges = (-1, *bars, divisions + objectives - 1)
        rows.append([edges[k + 1] - edges[k] - 1 for k in range(objectives)])
    return np.array(rows, dtype=float) / divisions


def normalize(values: np.ndarray) -> np.ndarray:
    """Losses translated to their ideal point and scaled by the intercepts of the hyperplane
    through the extreme points (one per objective: the smallest achievement scalarizing value
    along that axis), or by each objective's range where that plane is degenerate. The
    extreme points are found after scaling by the range, so the result does not depend on
    the objectives' units."""
    translated = values - values.min(axis=0)
    span = translated.max(axis=0)
    scaled = translated / np.where(span > _DEGENERATE, span, 1.0)
    objectives = values.shape[1]
    weights = np.full((objectives, objectives), 1e-6) + np.eye(objectives) * (1 - 1e-6)
    scalarized = (scaled[None, :, :] / weights[:, None, :]).max(axis=2)
    extremes = scaled[scalarized.argmin(axis=1)]
    ones = np.ones(objectives)
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            intercepts = 1.0 / np.linalg.solve(extremes, ones)
    except np.linalg.LinAlgError:
        intercepts = ones
    if not np.all(np.isfinite(intercepts)) or np.any(intercepts <= _DEGENERATE):
        intercepts = ones
    return np.asarray(scaled / intercepts)


def associate(points: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest direction of each point and its perpendicular distance to it."""
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    along = points @ unit.T
    squared = (points**2).sum(axis=1, keepdims=True) - along**2
    nearest = squared.argmin(axis=1)
    distance = np.sqrt(np.maximum(squared[np.arange(len(points)), nearest], 0.0))
    return nearest, distance


def niche(
    losses: np.ndarray,
    kept: list[int],
    front: np.ndarray,
    room: int,
    directions: np.ndarray,
    rng: np.random.Generator,
) -> list[int]:
    """``room`` rows of ``front`` (which does not fit whole) spread over the directions,
    given the rows ``kept`` from the fronts before it (see the module docstring)."""
    members = np.concatenate([np.array(kept, dtype=int), front])
    nearest, distance = associate(normalize(losses[members]), directions)
    counts = np.bincount(nearest[: len(kept)], minlength=len(directions))
    candidates = {
        int(d): [int(i) for i in np.flatnonzero(nearest[len(kept) :] == d)]
        for d in np.unique(nearest[len(kept) :])
    }
    offset = len(kept)
    chosen: list[int] = []
    while len(chosen) < room:
        open_directions = np.array(sorted(candidates))
        fewest = open_directions[counts[open_directions] == counts[open_directions].min()]
        direction = int(rng.choice(fewest))
        pool = candidates[direction]
        if counts[direction] == 0:
            pick = min(pool, key=lambda i: (distance[offset + i], i))
        else:
            pick = pool[int(rng.integers(len(pool)))]
        pool.remove(pick)
        if not pool:
            del candidates[direction]
        counts[direction] += 1
        chosen.append(int(front[pick]))
    return chosen


ALGORITHM = Algorithm(
    name="nsga3",
    suggester=Nsga3,
    family=Family.POPULATION,
    summary="NSGA-III genetic algorithm (reference directions)",
    use_when="three or four objectives, many parallel trials",
    capabilities=Capabilities(several_objectives=True, constraints=True, population=True),
)
