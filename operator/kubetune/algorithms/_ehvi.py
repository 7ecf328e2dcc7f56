"""Expected hypervolume improvement in log space: bayesopt's acquisition for several objectives.

A candidate's *hypervolume improvement* is the volume its loss vector ``y`` adds to the
current Pareto front's hypervolume (``kubetune.hypervolume``) up to a reference point ``r``:
the part of the box ``[y, r]`` that no front point dominates. That non-dominated region is cut
into axis-aligned cells (``Cells``); the improvement is the sum over cells of the volume each
shares with ``[y, r]``, a product over objectives. With the objectives' posteriors independent
Gaussians (one GP per objective), the expectation factorizes per cell and objective into a
closed form (``log_ehvi``), exactly, for any number of objectives:

    E[(u - max(l, Y))+] = sigma * (h((u - mu) / sigma) - h((l - mu) / sigma)),
    h(z) = phi(z) + z Phi(z)   (the same h as expected improvement's, ``_acquisition.log_h``).

Everything is computed in log space (Ament et al., 2023, as for log-EI): plain EHVI is 0 in
float64 wherever the model is confident the candidate is dominated, which gives a gradient
optimizer nothing to follow; its logarithm stays finite and informative.

The cells come from the grid of the front's coordinates in all objectives but the last, the
last objective's extent following from the points that dominate the cell's lower corner: with
``n`` front points, ``(n + 1) ** (m - 1)`` cells (``n + 1`` for two objectives, the usual
staircase). For three or four objectives that grows fast, so a front larger than
``MAX_CELLS`` allows is thinned to a spread-out subset first (extremes kept, then the point
farthest from those kept): the improvement is then an estimate (an over-estimate near the
points left out), which keeps a suggestion at a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kubetune.algorithms._acquisition import log_h
from kubetune.hypervolume import pareto_mask

MAX_CELLS = 2048
"""Most cells the non-dominated region is cut into; a larger front is thinned to fit (three
objectives: 44 front points, four: 11). Two objectives never need it below 2,047 points."""

_LOG_HALF = -math.log(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class Cells:
    """The non-dominated region below the reference point as grid cells.

    Objective ``j`` has intervals ``(lows[j][i], highs[j][i])`` (a low may be ``-inf``); cell
    ``k`` is the product over objectives of interval ``index[k, j]``. Storing intervals once
    per objective means the per-objective terms are computed once per interval, not per cell.
    """

    lows: tuple[np.ndarray, ...]
    highs: tuple[np.ndarray, ...]
    index: np.ndarray  # (cells, objectives)


def cells(front: np.ndarray, reference: np.ndarray) -> Cells:
    """The cells of the region below ``reference`` that no point of ``front`` (n, m) dominates."""
    front = np.asarray(front, dtype=float).reshape(-1, len(reference))
    front = front[np.all(front < reference, axis=1)]
    front = np.unique(front[pareto_mask(front)], axis=0) if len(front) else front
    objectives = len(reference)
    front = _thin(front, objectives)
    edges = [
        np.concatenate([[-np.inf], np.unique(front[:, j]), [reference[j]]])
        for j in range(objectives - 1)
    ]
    grid = np.meshgrid(*[np.arange(len(e) - 1) for e in edges], indexing="ij")
    index = np.stack([g.reshape(-1) for g in grid], axis=1)  # (cells, m - 1)
    corners = np.stack([edges[j][index[:, j]] for j in range(objectives - 1)], axis=1)
    # A front point bounds a cell's last objective when it dominates the cell's lower corner
    # in the others (its coordinates are grid edges, so the whole cell then lies above it).
    covers = np.all(front[None, :, :-1] <= corners[:, None, :], axis=2)  # (cells, n)
    last = np.where(covers, front[None, :, -1], np.inf).min(axis=1, initial=np.inf)
    last = np.minimum(last, reference[-1])
    tops, top_index = np.unique(last, return_inverse=True)
    lows = (*(e[:-1] for e in edges), np.full(len(tops), -np.inf))
    highs = (*(e[1:] for e in edges), tops)
    return Cells(lows, highs, np.column_stack([index, top_index.reshape(-1)]))


def _thin(front: np.ndarray, objectives: int) -> np.ndarray:
    """At most as many front points as ``MAX_CELLS`` allows: the extremes of each objective,
    then repeatedly the point farthest (in range-normalized losses) from those kept."""
    size = math.floor(MAX_CELLS ** (1.0 / max(1, objectives - 1)) + 1e-9) - 1
    if len(front) <= size:
        return front
    spread = np.ptp(front, axis=0)
    scaled = (front - front.min(axis=0)) / np.where(spread > 0, spread, 1.0)
    keep = list(dict.fromkeys(int(i) for i in np.argmin(front, axis=0)))[:size]
    distance = np.min(((scaled[:, None, :] - scaled[None, keep, :]) ** 2).sum(-1), axis=1)
    while len(keep) < size:
        j = int(np.argmax(distance))
        keep.append(j)
        distance = np.minimum(distance, ((scaled - scaled[j]) ** 2).sum(-1))
    return np.asarray(front[np.sort(keep)])


def log_ehvi(mean: np.ndarray, var: np.ndarray, region: Cells) -> np.ndarray:
    """log EHVI at candidates whose losses are independent Gaussians ``mean``, ``var`` (M, m)."""
    sd = np.sqrt(var)
    total = np.zeros((len(mean), len(region.index)))
    for j in range(mean.shape[1]):
        log_value = _log_overlap(mean[:, j], sd[:, j], region.lows[j], region.highs[j])
        total += log_value[:, region.index[:, j]]
    return _logsumexp(total)


def log_ehvi_with_gradient(
    mean: np.ndarray, var: np.ndarray, region: Cells
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log_ehvi`` and its derivatives by each mean and by each variance (M, m each)."""
    sd = np.sqrt(var)
    total = np.zeros((len(mean), len(region.index)))
    terms = []
    for j in range(mean.shape[1]):
        log_value = _log_overlap(mean[:, j], sd[:, j], region.lows[j], region.highs[j])
        terms.append(
            _overlap_gradient(mean[:, j], sd[:, j], region.lows[j], region.highs[j], log_value)
        )
        total += log_value[:, region.index[:, j]]
    value = _logsumexp(total)
    weights = np.exp(total - value[:, None])  # each cell's share of the improvement
    dmean, dvar = np.empty_like(mean), np.empty_like(mean)
    for j, (log_mean_ratio, log_high_ratio, log_low_ratio) in enumerate(terms):
        # Each interval's share: the summed weights of the cells built on it. The products
        # are taken in log space: a ratio can overflow where its share is all but 0.
        share = weights @ (region.index[:, j, None] == np.arange(len(region.lows[j]))[None, :])
        with np.errstate(divide="ignore"):
            log_share = np.log(share)
        dmean[:, j] = -np.exp(log_share + log_mean_ratio).sum(1)
        dvar[:, j] = (
            np.exp(log_share + log_high_ratio).sum(1) - np.exp(log_share + log_low_ratio).sum(1)
        ) / (2.0 * sd[:, j])
    return value, dmean, dvar


def _standardized(
    mean: np.ndarray, sd: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The intervals' ends in standard deviations from each candidate's mean (M, I)."""
    z_high = (high[None, :] - mean[:, None]) / sd[:, None]
    z_low = (low[None, :] - mean[:, None]) / sd[:, None]
    return z_low, z_high


def _log_overlap(mean: np.ndarray, sd: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """log E[(high - max(low, Y))+] for Y ~ N(mean, sd^2), candidates by intervals (M, I)."""
    from scipy import special

    z_low, z_high = _standardized(mean, sd, low, high)
    log_h_high = log_h(z_high)
    log_h_low = np.full_like(z_low, -np.inf)
    finite = np.isfinite(z_low)
    log_h_low[finite] = log_h(z_low[finite])
    # h(b) - h(a) = integral of Phi over [a, b], at least (b - a) Phi(a): a floor that stays
    # accurate where the subtraction cancels (a narrow interval far in the tail).
    with np.errstate(divide="ignore", invalid="ignore"):
        difference = log_h_high + _log1mexp(log_h_low - log_h_high)
        floor = np.where(finite, np.log(z_high - z_low) + special.log_ndtr(z_low), -np.inf)
    return np.asarray(np.log(sd)[:, None] + np.maximum(difference, floor))


def _overlap_gradient(
    mean: np.ndarray, sd: np.ndarray, low: np.ndarray, high: np.ndarray, log_value: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Derivatives of ``_log_overlap`` (its value given), as logs of their parts: by the mean,
    -(Phi(b) - Phi(a)), and by the standard deviation, phi(b) - phi(a), each divided by the
    overlap. An empty overlap (log -inf) has parts of log -inf: its share of the improvement
    is 0, and it must add 0, not inf times 0."""
    z_low, z_high = _standardized(mean, sd, low, high)
    finite = np.isfinite(z_low)
    usable = np.isfinite(log_value)
    base = np.where(usable, log_value, 0.0)
    log_mean = _log_ndtr_difference(z_low, z_high)
    log_phi_high = -0.5 * z_high * z_high - _LOG_SQRT_2PI
    z_finite = np.where(finite, z_low, 0.0)
    log_phi_low = np.where(finite, -0.5 * z_finite * z_finite - _LOG_SQRT_2PI, -np.inf)

    def ratio(log_part: np.ndarray) -> np.ndarray:
        return np.where(usable, log_part - base, -np.inf)

    return ratio(log_mean), ratio(log_phi_high), ratio(log_phi_low)


def _logsumexp(terms: np.ndarray) -> np.ndarray:
    """log of the row sums of exp(terms) (M, K), rows of -inf included (scipy's logsumexp
    does the same with several times the overhead, which the many small calls of the
    acquisition search notice)."""
    top = terms.max(axis=1)
    shift = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(np.exp(terms - shift[:, None]).sum(axis=1)) + shift)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x <= 0, accurate at both ends (Mächler, 2012)."""
    x = np.minimum(x, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(np.where(x > _LOG_HALF, np.log(-np.expm1(x)), np.log1p(-np.exp(x))))


def _log_ndtr_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b (a may be -inf), using the lower tail on the side
    where it is small so neither end cancels."""
    from scipy import special

    flip = a > 0
    upper = np.where(flip, -a, b)
    lower = np.where(flip, -b, a)
    log_upper = special.log_ndtr(upper)
    with np.errstate(invalid="ignore"):
        return np.asarray(log_upper + _log1mexp(special.log_ndtr(lower) - log_upper))
