"""CMA-ES with IPOP restarts, replayed from the trial history on every call.

The operator keeps no state, so the evolution strategy's state (mean, step size, covariance,
evolution paths) is rebuilt on each call: completed trials, in index order, are cut into
generations of ``lambda`` trials and each full generation updates the state exactly as a
running CMA-ES would (Hansen, "The CMA Evolution Strategy: A Tutorial", 2016). Every trial's
step is recomputed from its actual parameters, so trials that did not come from the current
distribution (manual ``initialTrials``, snapped integers, a generation that straddles a
restart) enter as "injected" solutions with their Mahalanobis length clipped, as Hansen
recommends. Trials that failed are not observations and are skipped.

The strategy runs on the numeric coordinates of the unit cube. Integer and stepped
parameters keep a *margin* (after Hamano et al., "CMA-ES with Margin", 2022): each discrete
coordinate's sampling spread is floored so that leaving the current value has probability at
least ``1 / (dims * lambda)``, so the search cannot freeze on one integer while the step size
shrinks. Categorical parameters are drawn independently and uniformly (a CMA-ES has no
notion of their order); a space with only categorical parameters is therefore random search.
One-dimensional spaces run the same algorithm, where covariance adaptation reduces to
step-size adaptation.

IPOP: when the step size collapses, the covariance degenerates or the best loss stops
moving, the strategy restarts from a random mean with twice the population.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._random import RandomSearch
from kubetune.algorithms.base import (
    UNIFORM_CANDIDATES_PER_SUGGESTION,
    Algorithm,
    AlgorithmSettings,
    Family,
    History,
    NoSettings,
    Suggester,
    Suggestion,
    leftover_grid,
)
from kubetune.api.capabilities import Capabilities
from kubetune.space import SearchSpace

_TOL_X = 1e-6  # restart once every coordinate's spread is below this (unit cube)
_TOL_FUN = 1e-12
_MAX_CONDITION = 1e14
_RESAMPLES = 50  # draws to land inside the cube before clipping
SAMPLING_ROUNDS = 4
"""Rounds of drawing from the strategy before falling back to uniform draws: a distribution
concentrated on used values (integers, late in a run) yields duplicates."""
DRAWS_PER_SUGGESTION = 4
"""Candidates drawn from the strategy per wanted suggestion in each round."""


class RestartStrategy(enum.StrEnum):
    IPOP = "ipop"
    NONE = "none"


class CmaEsSettings(AlgorithmSettings):
    """Settings of ``cmaes`` (camelCase in manifests)."""

    sigma0: float = Field(
        default=0.2, gt=0, le=1, description="Initial step size, as a fraction of each range."
    )
    population_size: int | None = Field(
        default=None, ge=2, description="Trials per generation; default 4 + 3 ln(dims)."
    )
    restart_strategy: RestartStrategy = Field(
        default=RestartStrategy.IPOP, description="ipop (restart, doubled population) or none."
    )
    population_growth: float = Field(
        default=2.0, ge=1, description="Population multiplier per IPOP restart."
    )
    margin: bool = Field(
        default=True, description="Keep integer coordinates from freezing (CMA-ES with margin)."
    )


@dataclass
class _State:
    """One CMA-ES run; ``restart`` counts the IPOP restarts before it."""

    dims: int
    population: int
    mean: np.ndarray
    sigma: float
    restart: int = 0
    generation: int = 0
    cov: np.ndarray = field(init=False)
    basis: np.ndarray = field(init=False)
    scales: np.ndarray = field(init=False)
    path_sigma: np.ndarray = field(init=False)
    path_cov: np.ndarray = field(init=False)
    best_history: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.dims
        self.cov, self.basis, self.scales = np.eye(n), np.eye(n), np.ones(n)
        self.path_sigma, self.path_cov = np.zeros(n), np.zeros(n)
        mu = self.population // 2
        w = math.log((self.population + 1) / 2) - np.log(np.arange(1, mu + 1))
        self.weights = w / w.sum()
        self.mu_eff = 1.0 / float((self.weights**2).sum())
        me = self.mu_eff
        self.c_sigma = (me + 2) / (n + me + 5)
        self.d_sigma = 1 + 2 * max(0.0, math.sqrt((me - 1) / (n + 1)) - 1) + self.c_sigma
        self.c_c = (4 + me / n) / (n + 4 + 2 * me / n)
        self.c_1 = 2 / ((n + 1.3) ** 2 + me)
        self.c_mu = min(1 - self.c_1, 2 * (me - 2 + 1 / me) / ((n + 2) ** 2 + me))
        self.chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))

    def inverse_sqrt(self, y: np.ndarray) -> np.ndarray:
        """C^{-1/2} y for rows y."""
        return np.asarray(((y @ self.basis) / self.scales) @ self.basis.T)


class CmaEs(Suggester[CmaEsSettings]):
    Settings = CmaEsSettings

    def __init__(self, space: SearchSpace, settings: CmaEsSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        self.geometry = Geometry.of(space)
        self.numeric = np.flatnonzero(~self.geometry.categorical)
        n = len(self.numeric)
        self.base_population = settings.population_size or 4 + int(3 * math.log(max(n, 1)))
        discrete = self.geometry.discrete[self.numeric]
        self.discrete = np.flatnonzero(discrete)

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        taken = self.geometry.read(history)[2]
        rng = self.rng(history, "cmaes")
        if not len(self.numeric):
            return RandomSearch(self.space, NoSettings(), self.seed).suggest(history, n)
        state = self._replay(history)
        scale = self._margin(state)
        chosen: list[Suggestion] = []
        for _ in range(SAMPLING_ROUNDS):
            if len(chosen) == n:
                return chosen
            points = self._sample(state, scale, rng, DRAWS_PER_SUGGESTION * n)
            chosen += self.geometry.fresh(points, taken, n - len(chosen))
        # The distribution has collapsed onto used values: fill up uniformly.
        uniform = self.geometry.snap(
            rng.random((UNIFORM_CANDIDATES_PER_SUGGESTION * n, self.geometry.dims))
        )
        chosen += self.geometry.fresh(uniform, taken, n - len(chosen))
        leftover = leftover_grid(self.space, rng) if len(chosen) < n else []
        if leftover:
            chosen += self.geometry.fresh(
                self.geometry.encode_many(leftover), taken, n - len(chosen)
            )
        return chosen

    def _start(self, restart: int, population: int) -> _State:
        dims = len(self.numeric)
        if restart == 0:
            mean = np.full(dims, 0.5)
        else:
            mean = np.random.default_rng([self.seed, restart]).random(dims)
        return _State(dims, population, mean, self.settings.sigma0, restart)

    def _replay(self, history: History) -> _State:
        state = self._start(0, self.base_population)
        completed = sorted(history.completed, key=lambda t: t.index)
        points = self.geometry.encode_many([t.params for t in completed])[:, self.numeric]
        losses = np.array([history.loss(t) for t in completed], dtype=float)
        position = 0
        while len(completed) - position >= state.population:
            x = points[position : position + state.population]
            f = losses[position : position + state.population]
            position += state.population
            scale = self._margin(state)
            x = np.where(np.isnan(x), state.mean, x)
            self._update(state, x, f, scale)
            if self._should_restart(state):
                grown = int(state.population * self.settings.population_growth)
                state = self._start(state.restart + 1, max(grown, state.population + 1))
        return state

    def _margin(self, state: _State) -> np.ndarray:
        """Per-coordinate sampling scale: 1, or more for discrete coordinates near freezing."""
        from scipy import special

        scale = np.ones(state.dims)
        if not self.settings.margin or not len(self.discrete):
            return scale
        alpha = 1.0 / (state.dims * state.population)
        quantile = float(special.ndtri(1.0 - alpha))
        spread = state.sigma * np.sqrt(np.diag(state.cov))
        for j in self.discrete:
            dim = int(self.numeric[j])
            low, high = self.geometry.cell(dim, np.array([state.mean[j]]))
            edges = [e for e in (float(low[0]), float(high[0])) if 1e-12 < e < 1 - 1e-12]
            if not edges:
                continue
            distance = min(abs(e - state.mean[j]) for e in edges)
            scale[j] = max(1.0, distance / (quantile * spread[j]))
        return scale

    def _sample(
        self, state: _State, scale: np.ndarray, rng: np.random.Generator, count: int
    ) -> np.ndarray:
        numeric = np.empty((count, state.dims))
        missing = np.arange(count)
        for _ in range(_RESAMPLES):
            z = rng.standard_normal((len(missing), state.dims))
            y = (z * state.scales) @ state.basis.T
            numeric[missing] = state.mean + state.sigma * scale * y
            inside = ((numeric[missing] >= 0) & (numeric[missing] <= 1)).all(1)
            missing = missing[~inside]
            if not len(missing):
                break
        points = rng.random((count, self.geometry.dims))  # categorical: uniform
        points[:, self.numeric] = np.clip(numeric, 0.0, 1.0)
        return self.geometry.snap(points)

    def _update(self, state: _State, x: np.ndarray, f: np.ndarray, scale: np.ndarray) -> None:
        n = state.dims
        y = (x - state.mean) / (state.sigma * scale)
        # Injected solutions: clip the Mahalanobis length to what sampling would produce.
        norms = np.linalg.norm(state.inverse_sqrt(y), axis=1)
        limit = math.sqrt(n) + 2 * n / (n + 2)
        y *= np.minimum(1.0, limit / np.maximum(norms, 1e-300))[:, None]
        order = np.argsort(f, kind="stable")[: len(state.weights)]
        y_w = state.weights @ y[order]
        state.mean = state.mean + state.sigma * scale * y_w
        cs, cc, c1, cmu = state.c_sigma, state.c_c, state.c_1, state.c_mu
        state.path_sigma = (1 - cs) * state.path_sigma + math.sqrt(
            cs * (2 - cs) * state.mu_eff
        ) * state.inverse_sqrt(y_w[None, :])[0]
        state.generation += 1
        norm_ps = float(np.linalg.norm(state.path_sigma))
        h_sigma = (
            norm_ps / math.sqrt(1 - (1 - cs) ** (2 * state.generation))
            < (1.4 + 2 / (n + 1)) * state.chi_n
        )
        state.path_cov = (1 - cc) * state.path_cov + h_sigma * math.sqrt(
            cc * (2 - cc) * state.mu_eff
        ) * y_w
        rank_mu = (y[order].T * state.weights) @ y[order]
        state.cov = (
            (1 - c1 - cmu + (1 - h_sigma) * c1 * cc * (2 - cc)) * state.cov
            + c1 * np.outer(state.path_cov, state.path_cov)
            + cmu * rank_mu
        )
        state.sigma *= math.exp(min(1.0, (cs / state.d_sigma) * (norm_ps / state.chi_n - 1)))
        state.sigma = min(state.sigma, 1.0)
        state.cov = (state.cov + state.cov.T) / 2
        values, vectors = np.linalg.eigh(state.cov)
        values = np.maximum(values, 1e-20)
        state.basis, state.scales = vectors, np.sqrt(values)
        state.best_history.append(float(f.min()))

    def _should_restart(self, state: _State) -> bool:
        if self.settings.restart_strategy is RestartStrategy.NONE:
            return False
        spread = state.sigma * np.sqrt(np.diag(state.cov))
        continuous = np.setdiff1d(np.arange(state.dims), self.discrete)
        if len(continuous) and float(spread[continuous].max()) < _TOL_X:
            return True
        if not len(continuous) and float(spread.max()) < _TOL_X:
            return True
        if float((state.scales.max() / state.scales.min()) ** 2) > _MAX_CONDITION:
            return True
        window = 10 + math.ceil(30 * state.dims / state.population)
        recent = state.best_history[-window:]
        return len(recent) == window and max(recent) - min(recent) < _TOL_FUN


ALGORITHM = Algorithm(
    name="cmaes",
    suggester=CmaEs,
    family=Family.MODEL_BASED,
    summary="CMA-ES with restarts",
    use_when="continuous spaces, long studies",
    capabilities=Capabilities(population=True),
)
