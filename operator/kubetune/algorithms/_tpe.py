"""Tree-structured Parzen estimator: cheap model-based search for any space, any objectives.

Completed trials are split into a "good" group (the best ``gamma(n)`` of them) and a "bad"
group: by loss, or with several objectives by Pareto rank as MOTPE does, feasible trials before
infeasible ones (``_tpe_split``). Each group becomes a Parzen estimator, a weighted mixture with
one component per trial plus a broad prior component: truncated Gaussians over the unit cube
for numeric coordinates (each trial's bandwidth is its larger gap to its neighbours, Optuna's
rule; integer and stepped values get the mass of their cell) and smoothed one-hot kernels for
categorical ones. Candidates are drawn from the good estimator and the one with the largest
ratio good/bad density wins — the expected-improvement maximizer of Bergstra et al. (2011), in
the multivariate form of Falkner et al. (2018) that keeps the dependencies between parameters.
With several objectives the default is univariate, as in Optuna: each coordinate takes the
candidates' value with the best ratio of its own marginal densities, which searches the
separable fronts of typical benchmarks (ZDT, DTLZ) much harder than one joint ratio.

Conditional parameters: a coordinate a trial left inactive contributes a flat factor to that
trial's component, and a candidate is scored only on the coordinates it activates, so the
good/bad ratio compares like with like without per-branch models.

Running trials and earlier picks of the same batch join the bad group ("constant liar"), so
parallel suggestions spread out. Everything is vectorized numpy: ~1 ms per suggestion at
1,000 trials with one objective; with two, sorting 1,000 trials into fronts and scoring each
coordinate on its own bring it to tens of ms, about a third of Optuna's TPESampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._sobol import SobolSearch
from kubetune.algorithms._tpe_split import good_first
from kubetune.algorithms.base import (
    UNIFORM_CANDIDATES_PER_SUGGESTION,
    UNIFORM_RESCUE_CANDIDATES,
    Algorithm,
    AlgorithmSettings,
    Family,
    History,
    NoSettings,
    Suggester,
    Suggestion,
    next_index,
)
from kubetune.api.capabilities import Capabilities
from kubetune.space import SearchSpace

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class TpeSettings(AlgorithmSettings):
    """Settings of ``tpe`` (camelCase in manifests)."""

    n_startup_trials: int = Field(
        default=10, ge=1, description="Trials drawn from a Sobol sequence before the model."
    )
    n_ei_candidates: int = Field(
        default=24, ge=1, le=10_000, description="Candidates drawn from the good estimator."
    )
    gamma: float = Field(
        default=0.1, gt=0, lt=1, description="Fraction of completed trials counted as good."
    )
    max_good_trials: int = Field(
        default=25, ge=1, description="Cap on the number of good trials (as in Optuna)."
    )
    prior_weight: float = Field(
        default=1.0, gt=0, description="Weight of the broad prior component of each estimator."
    )
    multivariate: bool | None = Field(
        default=None,
        description="Model the parameters jointly (true) or each on its own (false); default: "
        "jointly for one objective, each on its own for several (as Optuna does).",
    )
    constant_liar: bool = Field(
        default=True,
        description="Count running trials and earlier picks of a batch as bad trials.",
    )


class Tpe(Suggester[TpeSettings]):
    Settings = TpeSettings

    def __init__(self, space: SearchSpace, settings: TpeSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        self.geometry = Geometry.of(space)

    def _multivariate(self, history: History) -> bool:
        if self.settings.multivariate is None:
            return not history.is_multi_objective
        return self.settings.multivariate

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        geometry = self.geometry
        chosen: list[Suggestion] = []
        # Warm-start trials are known points: the initial design is shorter by as many.
        known = next_index(history) + history.warm_count
        startup = min(n, max(0, self.settings.n_startup_trials - known))
        if startup:
            chosen = SobolSearch(self.space, NoSettings(), self.seed).suggest(history, startup)
        x, y, taken = geometry.read(history, chosen)
        rng = self.rng(history, "tpe")
        if len(y) < 2:
            uniform = geometry.snap(
                rng.random((UNIFORM_CANDIDATES_PER_SUGGESTION * n, geometry.dims))
            )
            return chosen + geometry.fresh(uniform, taken, n - len(chosen))
        n_good = min(math.ceil(self.settings.gamma * len(y)), self.settings.max_good_trials)
        order = good_first(_losses(history, y), _violations(history), n_good)
        good = x[order[:n_good]]
        bad = x[order[n_good:]]
        bad_weights = _recency_weights(order[n_good:])
        liars = list(
            geometry.encode_many([t.params for t in history.running] + [s.params for s in chosen])
        )
        good_estimator = _Parzen(self.geometry, good, np.ones(len(good)), self.settings)
        multivariate = self._multivariate(history)
        while len(chosen) < n:
            if self.settings.constant_liar and liars:
                bad_points = np.vstack([bad, np.array(liars)])
                weights = np.concatenate([bad_weights, np.ones(len(liars))])
            else:
                bad_points, weights = bad, bad_weights
            bad_estimator = _Parzen(self.geometry, bad_points, weights, self.settings)
            candidates = good_estimator.sample(rng, self.settings.n_ei_candidates)
            if multivariate:
                score = good_estimator.log_density(candidates) - bad_estimator.log_density(
                    candidates
                )
                ranked = candidates[np.argsort(-score, kind="stable")]
            else:
                ranked = _univariate_ranking(candidates, good_estimator, bad_estimator)
            picked = geometry.fresh(ranked, taken, 1)
            if not picked:
                uniform = geometry.snap(rng.random((UNIFORM_RESCUE_CANDIDATES, geometry.dims)))
                picked = geometry.fresh(uniform, taken, 1)
                if not picked:
                    break
            chosen += picked
            liars.append(geometry.encode_many([picked[0].params])[0])
        return chosen


def _univariate_ranking(candidates: np.ndarray, good: _Parzen, bad: _Parzen) -> np.ndarray:
    """Candidates for univariate TPE, best first: the point made of each coordinate's best
    value among the candidates (by that coordinate's good/bad density ratio alone), then
    the candidates themselves by the sum of their coordinates' ratios."""
    ratio = good.log_marginals(candidates) - bad.log_marginals(candidates)
    best_rows = np.argmax(np.nan_to_num(ratio, nan=-np.inf), axis=0)
    combined = candidates[best_rows, np.arange(candidates.shape[1])]
    # A coordinate no candidate activates gets a placeholder that snapping clears again.
    combined = np.where(np.isnan(combined), 0.5, combined)
    order = np.argsort(-np.nansum(ratio, axis=1), kind="stable")
    return np.vstack([good.geometry.snap(combined[None, :]), candidates[order]])


def _losses(history: History, y: np.ndarray) -> np.ndarray:
    """Losses (n, objectives) of the completed trials, in the rows of ``Geometry.read``."""
    if not history.is_multi_objective:
        return y[:, None]
    return np.array([history.losses(t) for t in history.completed], dtype=float)


def _violations(history: History) -> np.ndarray:
    """Total constraint violation of each completed trial (0: feasible or no constraints)."""
    completed = history.completed
    if not history.constraints:
        return np.zeros(len(completed))
    return np.array([history.feasibility(t).violation for t in completed], dtype=float)


def _logsumexp(a: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp; scipy's version costs more in overhead than the sum itself."""
    top = a.max(axis=1)
    return np.asarray(top + np.log(np.exp(a - top[:, None]).sum(axis=1)))


RECENT_FULL_WEIGHT = 25
"""Optuna's default weighting of bad trials: this many most recent ones weigh 1."""

MAGIC_CLIP_COMPONENTS = 100
"""Bandwidths are floored at 1 / min(this, components + 1) (Optuna's "magic clip")."""


def _recency_weights(indices: np.ndarray) -> np.ndarray:
    """The ``RECENT_FULL_WEIGHT`` most recent trials weigh 1, older ones ramp down to 1/n."""
    count = len(indices)
    if count < RECENT_FULL_WEIGHT:
        return np.ones(count)
    ramp = np.concatenate(
        [
            np.linspace(1.0 / count, 1.0, count - RECENT_FULL_WEIGHT),
            np.ones(RECENT_FULL_WEIGHT),
        ]
    )
    # The i-th trial gets the ramp value of its rank in trial order.
    return np.asarray(ramp[np.argsort(np.argsort(indices, kind="stable"), kind="stable")])


def _bandwidths(values: np.ndarray, floor: float) -> np.ndarray:
    """Per-trial bandwidth in one coordinate: the larger gap to its sorted neighbours.

    Dense regions get narrow kernels and isolated trials wide ones (Optuna's rule, with its
    "magic clip" floor); inactive (nan) entries get a bandwidth that is never used.
    """
    sigma = np.ones(len(values))
    active = np.flatnonzero(~np.isnan(values))
    if not len(active):
        return sigma
    order = active[np.argsort(values[active], kind="stable")]
    ends = np.concatenate([[0.0], values[order], [1.0]])
    gaps = np.maximum(ends[1:-1] - ends[:-2], ends[2:] - ends[1:-1])
    if len(order) >= 2:
        # The outermost trials look inward only, not at the bounds of the space; a lone
        # trial has nothing inside to look at and takes its larger gap to the bounds.
        gaps[0], gaps[-1] = ends[2] - ends[1], ends[-2] - ends[-3]
    sigma[order] = np.clip(gaps, floor, 1.0)
    return sigma


class _Parzen:
    """A weighted product-kernel mixture over the unit cube, plus a broad prior component."""

    def __init__(
        self, geometry: Geometry, points: np.ndarray, weights: np.ndarray, options: TpeSettings
    ) -> None:
        self.geometry = geometry
        count, dims = points.shape
        prior = np.full((1, dims), 0.5)
        self.centers = np.vstack([points, prior])
        self.inactive = np.isnan(self.centers)
        self.log_weights = np.log(np.concatenate([weights, [options.prior_weight]]))
        self.log_weights -= float(_logsumexp(self.log_weights[None, :])[0])
        components = count + 1
        self.sigma = np.ones((components, dims))  # the prior component (last) stays broad
        for dim in np.flatnonzero(~geometry.categorical):
            self.sigma[:-1, dim] = _bandwidths(
                points[:, dim], 1.0 / min(MAGIC_CLIP_COMPONENTS, components + 1)
            )
        # Categorical kernels: each trial's category plus prior_weight spread evenly.
        self.categories: dict[int, np.ndarray] = {}
        for dim in np.flatnonzero(geometry.categorical):
            levels = int(geometry.levels[dim])
            index = geometry.category(points, int(dim))
            probs = np.full((components, levels), options.prior_weight / components)
            rows = np.flatnonzero(index >= 0)
            probs[rows, index[rows]] += 1.0
            probs[np.flatnonzero(index < 0)] = 1.0  # inactive in that trial: flat
            probs[-1] = 1.0
            self.categories[int(dim)] = probs / probs.sum(1, keepdims=True)

    def sample(self, rng: np.random.Generator, count: int) -> np.ndarray:
        from scipy import special

        component = rng.choice(len(self.centers), size=count, p=np.exp(self.log_weights))
        mu = np.nan_to_num(self.centers[component], nan=0.5)
        sigma = np.where(self.inactive[component], 1e3, self.sigma[component])
        # Inverse-CDF sampling of Gaussians truncated to [0, 1].
        low, high = special.ndtr(-mu / sigma), special.ndtr((1.0 - mu) / sigma)
        u = low + rng.random(mu.shape) * (high - low)
        x = np.clip(mu + sigma * special.ndtri(np.clip(u, 1e-12, 1 - 1e-12)), 0.0, 1.0)
        for dim, probs in self.categories.items():
            cumulative = probs[component].cumsum(1)
            draw = (rng.random((count, 1)) > cumulative).sum(1)
            draw = np.minimum(draw, probs.shape[1] - 1)
            x[:, dim] = (draw + 0.5) / probs.shape[1]
        return self.geometry.snap(x)

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """log of the mixture density (mass, for discrete coordinates) at points (c, d)."""
        total = np.zeros((len(x), len(self.centers)))
        for _, term in self._terms(x):
            total += term
        return _logsumexp(total + self.log_weights)

    def log_marginals(self, x: np.ndarray) -> np.ndarray:
        """log of each coordinate's own mixture density at points (c, d), as (c, d): what
        univariate TPE compares, one coordinate at a time (nan where a point leaves it
        inactive)."""
        out = np.full(x.shape, np.nan)
        for dim, term in self._terms(x):
            active = ~np.isnan(x[:, dim])
            out[active, dim] = _logsumexp(term[active] + self.log_weights)
        return out

    def _terms(self, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Per active coordinate: (dim, log density of each point under each component (c, k)),
        zero for points that leave the coordinate inactive."""
        from scipy import special

        geometry = self.geometry
        mu, sigma = np.nan_to_num(self.centers, nan=0.5), self.sigma
        log_norm = np.log(special.ndtr((1.0 - mu) / sigma) - special.ndtr(-mu / sigma))
        for dim in range(geometry.dims):
            active = ~np.isnan(x[:, dim])
            if not active.any():
                continue
            xd = np.nan_to_num(x[:, dim], nan=0.5)[:, None]
            if geometry.categorical[dim]:
                index = geometry.category(x, dim)
                term = np.log(self.categories[dim][:, np.maximum(index, 0)].T)
            elif geometry.levels[dim]:
                low, high = geometry.cell(dim, xd[:, 0])
                upper = special.ndtr((high[:, None] - mu[:, dim]) / sigma[:, dim])
                lower = special.ndtr((low[:, None] - mu[:, dim]) / sigma[:, dim])
                mass = np.maximum(upper - lower, 1e-300)
                term = np.log(mass) - log_norm[:, dim]
                flat = np.log(np.maximum(high - low, 1e-300))[:, None]
                term = np.where(self.inactive[:, dim], flat, term)
            else:
                z = (xd - mu[:, dim]) / sigma[:, dim]
                term = -0.5 * z * z - _LOG_SQRT_2PI - np.log(sigma[:, dim]) - log_norm[:, dim]
                term = np.where(self.inactive[:, dim], 0.0, term)
            yield dim, np.where(active[:, None], term, 0.0)


ALGORITHM = Algorithm(
    name="tpe",
    suggester=Tpe,
    family=Family.MODEL_BASED,
    summary="tree-structured Parzen estimator",
    use_when="any space, many trials, conditional parameters, several objectives",
    capabilities=Capabilities(several_objectives=True, constraints=True),
)
