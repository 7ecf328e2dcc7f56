"""PED-ANOVA scores: how differently each parameter is distributed among the best trials.

For every parameter, two distributions over its cells (numeric: ``cells`` equal slices of its
unit-cube coordinate; categorical: one cell per choice) plus one "inactive" cell: ``p`` from
all trials, ``q`` from the top ``target_quantile`` of them. Numeric values are spread over the
cells by a Gaussian kernel (Scott's width for the top set, truncated to [0, 1]); both mix in a
uniform prior over the value cells worth ``prior_weight`` pseudo-trials of the top set, so
``p`` is positive wherever ``q`` is and a handful of top trials is pulled toward "no
preference". The score is the Pearson divergence ``sum (q - p)² / p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kubetune.space import Parameter, SearchSpace

SCOTT_FACTOR = 1.06
"""Scott's rule of thumb, ``1.06 · σ · n^(-1/5)``: the kernel width of a Gaussian sample."""

KERNEL_BINS_PER_CELL = 10
"""Values are binned this finely before the kernel is applied (see ``_kernel_counts``)."""


@dataclass(frozen=True)
class PedAnovaSettings:
    target_quantile: float = 0.1
    """Share of trials, best first, whose distribution is compared with all trials' (γ')."""
    min_top_trials: int = 2
    """The top set holds at least this many trials, so small studies still compare two sets."""
    cells: int = 50
    """Slices of a numeric parameter's [0, 1] coordinate; also sets the narrowest kernel."""
    prior_weight: float = 1.0
    """Pseudo-trials spread evenly over a parameter's values in both distributions."""

    def __post_init__(self) -> None:
        if not 0.0 < self.target_quantile < 1.0:
            raise ValueError(f"target_quantile must be in (0, 1), got {self.target_quantile}")
        if self.min_top_trials < 1 or self.cells < 2 or self.prior_weight <= 0.0:
            raise ValueError("min_top_trials >= 1, cells >= 2 and prior_weight > 0 are required")


def ped_anova_scores(
    space: SearchSpace, x: np.ndarray, y: np.ndarray, settings: PedAnovaSettings
) -> np.ndarray:
    """One non-negative score per parameter of ``space`` (columns of ``x``, nan = inactive)."""
    top = top_trials(y, settings)
    return np.array(
        [
            _divergence(x[:, column], top, parameter, settings)
            for column, parameter in enumerate(space.parameters)
        ]
    )


def top_trials(y: np.ndarray, settings: PedAnovaSettings) -> np.ndarray:
    """Mask of the best trials; ties with the last one are in, so only the values matter."""
    size = max(settings.min_top_trials, math.ceil(settings.target_quantile * len(y)))
    cutoff = np.sort(y)[min(size, len(y)) - 1]
    mask: np.ndarray = y <= cutoff
    return mask


def _divergence(
    column: np.ndarray, top: np.ndarray, parameter: Parameter, settings: PedAnovaSettings
) -> float:
    """Pearson divergence of the top trials' distribution from all trials'.

    Both are smoothed alike (the top set's kernel width, the prior's share in the top set), so
    a parameter whose values the top trials share with the rest scores zero up to noise, and
    one that never changes scores exactly zero.
    """
    top_values = column[top]
    bandwidth = _bandwidth(top_values[~np.isnan(top_values)], settings)
    prior_share = settings.prior_weight / (len(top_values) + settings.prior_weight)
    q = _distribution(top_values, parameter, bandwidth, prior_share, settings)
    p = _distribution(column, parameter, bandwidth, prior_share, settings)
    support = p > 0.0  # the top trials are among all trials: q > 0 only where p > 0
    return float((((q - p) ** 2)[support] / p[support]).sum())


def _distribution(
    u: np.ndarray,
    parameter: Parameter,
    bandwidth: float,
    prior_share: float,
    settings: PedAnovaSettings,
) -> np.ndarray:
    """Probabilities of the parameter's value cells, then of "inactive" last."""
    active = u[~np.isnan(u)]
    if parameter.is_categorical:
        levels = len(parameter.choices)
        index = np.minimum((active * levels).astype(int), levels - 1)
        counts = np.bincount(index, minlength=levels).astype(float)
    else:
        counts = _kernel_counts(active, bandwidth, settings.cells)
    empirical = np.append(counts, float(len(u) - len(active))) / len(u)
    prior = np.append(np.full(counts.size, 1.0 / counts.size), 0.0)
    distribution: np.ndarray = (1.0 - prior_share) * empirical + prior_share * prior
    return distribution


def _kernel_counts(active: np.ndarray, bandwidth: float, cells: int) -> np.ndarray:
    """How much of the trials' kernel mass falls in each cell; each trial contributes 1.

    Values are first counted in bins a tenth of a cell wide (the narrowest kernel is a cell)
    and the kernel is placed at each bin's centre, so 10,000 trials cost no more than 500.
    """
    from scipy import special

    if active.size == 0:
        return np.zeros(cells)
    bins = cells * KERNEL_BINS_PER_CELL
    weights = np.bincount(np.minimum((active * bins).astype(int), bins - 1), minlength=bins)
    centres = (np.arange(bins) + 0.5) / bins
    edges = np.linspace(0.0, 1.0, cells + 1)
    mass = np.diff(special.ndtr((edges[None, :] - centres[:, None]) / bandwidth), axis=1)
    mass /= mass.sum(axis=1, keepdims=True)  # truncated at the bounds: no mass is lost
    counts: np.ndarray = weights @ mass
    return counts


def _bandwidth(active: np.ndarray, settings: PedAnovaSettings) -> float:
    """Scott's width for the given values, at least one cell and at most the whole axis."""
    spread = float(np.std(active)) if active.size > 1 else 0.0
    scott = SCOTT_FACTOR * spread * math.pow(max(active.size, 1), -1 / 5)
    return min(max(scott, 1.0 / settings.cells), 1.0)
