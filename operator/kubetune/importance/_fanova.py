"""fANOVA scores: the variance each parameter alone explains in a random forest of the losses.

The forest is bagged regression trees on the unit-cube encoding (every parameter considered
at every split, thresholds halfway between observed values). Each tree is a set of leaves,
axis-aligned boxes with a constant prediction, so its functional-ANOVA decomposition under
the uniform measure of the boxes' domain is exact: the marginal of parameter ``d`` at ``v``
is the volume-weighted mean of the leaves whose box contains ``v`` along ``d``, and the
parameter's score is the variance of that marginal over its axis divided by the tree's total
variance. Scores are averaged over the trees whose prediction varies.

An inactive parameter (nan) is put at the middle of a stretch ``[-r, 0)`` of its axis, with
``r`` chosen so the stretch is the share of trials in which it was inactive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kubetune.space import SearchSpace

SPLIT_TOLERANCE = 1e-9
"""Relative difference below which two splits are equally good (and ``_tie_rank`` picks one):
so float rounding, e.g. from shifting the objective, never decides the forest's shape."""


@dataclass(frozen=True)
class FanovaSettings:
    trees: int = 64
    """Bootstrapped trees in the forest; more trees, steadier scores, linearly slower."""
    min_samples_leaf: int = 1
    """Fewest trials a leaf may hold."""
    max_depth: int = 32
    """Deepest split of a tree."""
    max_trials: int = 1000
    """Trials the forest is fitted to; a larger study is subsampled (seeded) to this many."""

    def __post_init__(self) -> None:
        if min(self.trees, self.min_samples_leaf, self.max_depth, self.max_trials) < 1:
            raise ValueError("fANOVA settings must all be at least 1")


@dataclass(frozen=True)
class _Tree:
    low: np.ndarray  # (leaves, dims): the lower corner of each leaf's box
    high: np.ndarray  # (leaves, dims)
    value: np.ndarray  # (leaves,)


def fanova_scores(
    space: SearchSpace,
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    settings: FanovaSettings,
) -> np.ndarray:
    """One non-negative score per parameter of ``space`` (columns of ``x``, nan = inactive)."""
    if len(y) > settings.max_trials:
        keep = np.sort(rng.choice(len(y), settings.max_trials, replace=False))
        x, y = x[keep], y[keep]
    spread = float(np.std(y))
    if not spread > 0.0:
        return np.zeros(x.shape[1])
    # Standardized: shares do not depend on the loss's offset and scale, and an offset far
    # larger than the loss's variation no longer drowns that variation in rounding.
    y = (y - y.mean()) / spread
    encoded, domain_low = _with_inactive_level(x)
    domain_high = np.ones(x.shape[1])
    tie_rank = _tie_rank(space)
    shares = []
    for _ in range(settings.trees):
        sample = rng.integers(0, len(y), len(y))
        tree = _grow(encoded[sample], y[sample], domain_low, domain_high, tie_rank, settings)
        tree_shares = _first_order_shares(tree, domain_low, domain_high)
        if tree_shares is not None:
            shares.append(tree_shares)
    if not shares:
        return np.zeros(x.shape[1])
    scores: np.ndarray = np.mean(shares, axis=0)
    return scores


def _tie_rank(space: SearchSpace) -> np.ndarray:
    """Which parameter gets a split that several would make equally well.

    Unconditional parameters first: "inactive" in a conditional parameter is a choice of its
    parent, so a split on it that merely repeats the parent's belongs to the parent. Then by
    name, not by column, so reordering the parameters reorders the scores and nothing else.
    """
    keys = sorted(range(space.dims), key=lambda i: (bool(space.parameters[i].when), space.names[i]))
    rank = np.empty(space.dims, dtype=int)
    rank[keys] = np.arange(space.dims)
    return rank


def _with_inactive_level(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inactive = np.isnan(x)
    share = inactive.mean(axis=0)
    stretch = np.where(share < 1.0, share / np.maximum(1.0 - share, 1e-12), 0.0)
    encoded = np.where(inactive, -stretch / 2, x)
    return encoded, -stretch


def _grow(
    x: np.ndarray,
    y: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    tie_rank: np.ndarray,
    settings: FanovaSettings,
) -> _Tree:
    lows, highs, values = [], [], []
    pending = [(np.arange(len(y)), low, high, 0)]
    while pending:
        rows, box_low, box_high, depth = pending.pop()
        split = None
        if depth < settings.max_depth:
            split = _best_split(x[rows], y[rows], tie_rank, settings)
        if split is None:
            lows.append(box_low)
            highs.append(box_high)
            values.append(float(y[rows].mean()))
            continue
        column, threshold = split
        left = x[rows, column] <= threshold
        left_high, right_low = box_high.copy(), box_low.copy()
        left_high[column] = right_low[column] = threshold
        pending.append((rows[left], box_low, left_high, depth + 1))
        pending.append((rows[~left], right_low, box_high, depth + 1))
    return _Tree(np.array(lows), np.array(highs), np.array(values))


def _best_split(
    x: np.ndarray, y: np.ndarray, tie_rank: np.ndarray, settings: FanovaSettings
) -> tuple[int, float] | None:
    """The (column, threshold) that most reduces the squared error, or None if none does."""
    size, leaf = len(y), settings.min_samples_leaf
    if size < 2 * leaf or float(np.ptp(y)) == 0.0:
        return None  # (equal values can have a mean that differs from them by rounding)
    centered = y - y.mean()
    order = np.argsort(x, axis=0, kind="stable")
    ordered_x = np.take_along_axis(x, order, axis=0)
    left_sum = np.cumsum(centered[order], axis=0)[:-1]
    left_size = np.arange(1, size)[:, None]
    # Minimizing the children's squared error is maximizing left_sum²/nl + right_sum²/nr,
    # and with centered values right_sum = -left_sum.
    gain = left_sum**2 * (1.0 / left_size + 1.0 / (size - left_size))
    allowed = (ordered_x[1:] > ordered_x[:-1]) & (left_size >= leaf) & (size - left_size >= leaf)
    gain = np.where(allowed, gain, -np.inf)
    best = float(gain.max())
    if not best > SPLIT_TOLERANCE * float(centered @ centered):
        return None
    rows, columns = np.nonzero(gain >= best * (1.0 - SPLIT_TOLERANCE))
    pick = np.lexsort((rows, tie_rank[columns]))[0]
    row, column = int(rows[pick]), int(columns[pick])
    return column, float((ordered_x[row, column] + ordered_x[row + 1, column]) / 2)


def _first_order_shares(tree: _Tree, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """Each parameter's share of the tree's variance, or None if the tree is constant."""
    length = high - low
    fraction = (tree.high - tree.low) / length
    volume = fraction.prod(axis=1)
    mean = float(volume @ tree.value)
    total = float(volume @ (tree.value - mean) ** 2)
    if not total > 0.0:
        return None
    shares = np.zeros(len(length))
    for column in range(len(length)):
        bounds = np.unique(np.concatenate([tree.low[:, column], tree.high[:, column]]))
        if bounds.size <= 2:
            continue  # no split on this parameter: its marginal is flat
        middles = (bounds[:-1] + bounds[1:]) / 2
        inside = (tree.low[:, column, None] <= middles) & (middles < tree.high[:, column, None])
        marginal = (tree.value * volume / fraction[:, column]) @ inside
        widths = np.diff(bounds) / length[column]
        shares[column] = float(widths @ (marginal - mean) ** 2) / total
    return shares
