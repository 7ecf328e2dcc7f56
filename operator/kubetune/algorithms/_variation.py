"""Crossover and mutation in the search space's unit cube, shared by the genetic algorithms.

``nsga2`` and ``genetic`` select parents differently (Pareto fronts and crowding, or loss
and tournaments) but breed a child from two parents the same way, so that part lives here:

* numbers are crossed on their unit-cube coordinate, so log scales are respected, by
  simulated binary crossover (SBX) or blend crossover (BLX-alpha); categorical parameters by
  uniform crossover (each one from either parent);
* mutation moves a number by a polynomial step, an integer or stepped value to a nearby
  value, a categorical to another choice;
* the child is snapped onto the space (integers, steps and choices exact) and decoded
  through it, so conditional parameters follow their parents; a coordinate inactive in one
  parent takes the other's value, inactive in both a uniform one;
* a child equal to a parameter set already taken is bred again, and after
  ``BREEDING_ATTEMPTS`` tries a uniform draw replaces it (small discrete spaces).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms.base import Suggestion

BREEDING_ATTEMPTS = 50
"""Children bred per wanted suggestion before falling back to a uniform draw, when crossover
and mutation keep landing on parameter sets already taken (small discrete spaces)."""

UNIFORM_DRAWS = 100
"""Uniform points drawn when breeding found nothing fresh."""

ParentPicker = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]
"""Picks two parents (unit-cube points, nan where inactive) with the given generator."""


class Crossover(enum.StrEnum):
    """How the numeric coordinates of two parents are mixed."""

    SBX = "sbx"
    """Simulated binary crossover: children spread around the parents like one-point
    crossover spreads bit strings; ``crossoverEta`` sets how close they stay."""
    BLEND = "blend"
    """BLX-alpha: uniform in the parents' interval widened by ``blendAlpha`` of its length
    on each side, so a population can move beyond its members."""


@dataclass(frozen=True)
class Variation:
    """The variation operators of a genetic algorithm, over one search space."""

    geometry: Geometry
    crossover: Crossover
    crossover_probability: float
    swapping_probability: float
    mutation_probability: float
    crossover_eta: float
    mutation_eta: float
    blend_alpha: float = 0.5

    def fresh_child(
        self, pick: ParentPicker, rng: np.random.Generator, taken: set[bytes]
    ) -> list[Suggestion]:
        """One child not yet taken, else a fresh uniform point, else nothing (space used up)."""
        geometry = self.geometry
        for _ in range(BREEDING_ATTEMPTS):
            first, second = pick(rng)
            child = self.breed(first, second, rng)
            picked = geometry.fresh(child[None, :], taken, 1)
            if picked:
                return picked
        return self.fresh_uniform(rng, taken)

    def fresh_uniform(self, rng: np.random.Generator, taken: set[bytes]) -> list[Suggestion]:
        """A uniform point not yet taken, or nothing if ``UNIFORM_DRAWS`` draws all were."""
        geometry = self.geometry
        return geometry.fresh(geometry.snap(rng.random((UNIFORM_DRAWS, geometry.dims))), taken, 1)

    def breed(self, first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A snapped child of two unit-cube points (nan: inactive in that parent)."""
        geometry = self.geometry
        dims = geometry.dims
        # A coordinate inactive in one parent takes the other's value; in both, a uniform one,
        # so a child that switches a branch on gets a value for it.
        a = np.where(np.isnan(first), second, first)
        a = np.where(np.isnan(a), rng.random(dims), a)
        b = np.where(np.isnan(second), a, second)
        child = a.copy()
        if rng.random() < self.crossover_probability:
            if self.crossover is Crossover.SBX:
                near_a, near_b = simulated_binary(a, b, self.crossover_eta, rng)
                from_b = rng.random(dims) < self.swapping_probability
                numeric = np.where(from_b, near_b, near_a)
            else:
                numeric = blend(a, b, self.blend_alpha, rng)
                from_b = rng.random(dims) < self.swapping_probability
            child = np.where(geometry.categorical, np.where(from_b, b, a), numeric)
        mutate = rng.random(dims) < self.mutation_probability
        for dim in np.flatnonzero(mutate):
            child[dim] = self.mutate(int(dim), float(child[dim]), rng)
        return np.asarray(geometry.snap(child[None, :])[0])

    def mutate(self, dim: int, u: float, rng: np.random.Generator) -> float:
        """A new coordinate value: another choice, a neighbouring level, or a polynomial step.

        Discrete coordinates always move: a polynomial step too small to leave the current
        value's cell is replaced by a random nearby value.
        """
        geometry = self.geometry
        levels = int(geometry.levels[dim])
        if geometry.categorical[dim]:
            if levels < 2:
                return u
            current = min(int(u * levels), levels - 1)
            return (int((current + rng.integers(1, levels)) % levels) + 0.5) / levels
        stepped = polynomial(u, self.mutation_eta, rng)
        if levels:
            low, high = geometry.cell(dim, np.array([u]))
            if low[0] <= stepped < high[0]:
                nearby = geometry.neighbours(dim, u)
                return float(rng.choice(nearby)) if len(nearby) else u
        return stepped


def simulated_binary(
    a: np.ndarray, b: np.ndarray, eta: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Simulated binary crossover bounded to [0, 1] (Deb and Agrawal 1995, with Deb's bounded
    spread): two children spread around the parents' mean like one-point crossover spreads
    bit strings; returns the child on ``a``'s side and the one on ``b``'s."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    gap = high - low
    moving = gap > 1e-12
    safe_gap = np.where(moving, gap, 1.0)
    u = rng.random(a.shape)
    exponent = 1.0 / (eta + 1.0)

    def spread(room: np.ndarray) -> np.ndarray:
        beta = 1.0 + 2.0 * room / safe_gap
        alpha = 2.0 - beta ** -(eta + 1.0)
        inner = np.where(u <= 1.0 / alpha, u * alpha, 1.0 / np.maximum(2.0 - u * alpha, 1e-12))
        return np.asarray(inner**exponent)

    mean = 0.5 * (low + high)
    lower = np.clip(mean - 0.5 * spread(low) * gap, 0.0, 1.0)
    upper = np.clip(mean + 0.5 * spread(1.0 - high) * gap, 0.0, 1.0)
    a_low = a <= b
    near_a = np.where(moving, np.where(a_low, lower, upper), a)
    near_b = np.where(moving, np.where(a_low, upper, lower), b)
    return near_a, near_b


def blend(a: np.ndarray, b: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """BLX-alpha (Eshelman and Schaffer 1993): uniform in ``[low - alpha * gap, high + alpha *
    gap]`` around the parents' interval, clipped to [0, 1]."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    gap = high - low
    start, end = low - alpha * gap, high + alpha * gap
    return np.asarray(np.clip(start + rng.random(a.shape) * (end - start), 0.0, 1.0))


def polynomial(u: float, eta: float, rng: np.random.Generator) -> float:
    """Deb's bounded polynomial mutation on [0, 1]: mostly small steps, never out of bounds."""
    r = float(rng.random())
    exponent = 1.0 / (eta + 1.0)
    if r < 0.5:
        base = 2.0 * r + (1.0 - 2.0 * r) * (1.0 - u) ** (eta + 1.0)
        step = base**exponent - 1.0
    else:
        base = 2.0 * (1.0 - r) + 2.0 * (r - 0.5) * u ** (eta + 1.0)
        step = 1.0 - base**exponent
    return float(min(max(u + step, 0.0), 1.0))
