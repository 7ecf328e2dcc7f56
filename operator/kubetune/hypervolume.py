"""Pareto fronts and hypervolume: how good a set of trials is when there are several objectives.

With several objectives there is no single best trial, only the *Pareto front*: the trials no
other trial beats on every objective at once. Its quality is measured by the *hypervolume*,
the volume of objective space the front dominates up to a *reference point* (a point worse
than every trial of interest): larger is better, adding a trial never lowers it, and it only
grows when a trial pushes the front forward. ``nsga2`` ranks trials by their fronts, and the
study's status and benchmarks report the hypervolume.

Everything here works on *losses* (smaller is better, see ``kubetune.history``): arrays of
shape (n, m), one row per trial and one column per objective. The module is pure numpy and
sits below the algorithms so status reporting and algorithms share one definition.

Exact hypervolume: two objectives take a sort and a sweep (O(n log n)); three are sliced along
the first objective into n two-objective sweeps (Hypervolume by Slicing Objectives, While et
al. 2006); four or more use the "limit set" recursion of WFG (While et al. 2012): each point,
from the worst to the best in the first objective, adds its box minus what the better points
already cover, which is the (m-1)-objective hypervolume of the better points clipped to its
box, dominated ones pruned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The default reference point lies this fraction of each objective's observed range beyond
# its worst observed value, so the extreme trials of the front still add volume.
REFERENCE_MARGIN = 0.1

# Rows compared at once when looking for dominated points.
_BLOCK = 256


def _as_points(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    array = np.asarray(points, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"points must be (trials, objectives), got shape {array.shape}")
    return array


def dominates(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> bool:
    """Whether loss vector ``a`` is no worse than ``b`` everywhere and better somewhere."""
    left, right = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(left <= right) and np.any(left < right))


def _domination_matrix(points: np.ndarray, dominators: np.ndarray | None = None) -> np.ndarray:
    """``matrix[i, j]``: ``dominators[i]`` (default: ``points[i]``) dominates ``points[j]``.

    One pass per objective: numpy reduces a tiny last axis far slower than it compares.
    """
    rows = points if dominators is None else dominators
    no_worse = np.ones((len(rows), len(points)), dtype=bool)
    better = np.zeros((len(rows), len(points)), dtype=bool)
    for k in range(points.shape[1]):
        column, row = points[None, :, k], rows[:, k, None]
        no_worse &= row <= column
        better |= row < column
    return no_worse & better


def pareto_mask(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """Which points no other point dominates (equal points are all kept)."""
    array = _as_points(points)
    if array.shape[1] == 2:
        return _pareto_mask_2d(array)
    return _pareto_mask_sorted(array)


def domination_counts(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """How many points dominate each point; zero exactly on the Pareto front."""
    array = _as_points(points)
    counts = np.zeros(len(array), dtype=int)
    # Blocks of candidate dominators keep memory at O(block * n) for studies of any size.
    for start in range(0, len(array), _BLOCK):
        counts += _domination_matrix(array, array[start : start + _BLOCK]).sum(axis=0)
    return counts


def _pareto_mask_2d(points: np.ndarray) -> np.ndarray:
    """Two objectives in O(n log n): after sorting distinct points by (first, second), a point
    is dominated exactly when an earlier one has a second objective no larger."""
    unique, inverse = np.unique(points, axis=0, return_inverse=True)  # sorted lexicographically
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], unique[:-1, 1]]))
    return np.asarray((best_before > unique[:, 1])[inverse.reshape(-1)])


def _pareto_mask_sorted(points: np.ndarray) -> np.ndarray:
    """Any number of objectives in O(n × front): distinct points sorted lexicographically can
    only be dominated by earlier ones, and (dominance being transitive) a point is dominated
    by an earlier one exactly when it is by an earlier member of the front. So each block of
    points is compared with the front found so far and with itself, never with every point:
    a 20,000-trial study's front takes well under a second, not the quadratic count's ten."""
    unique, inverse = np.unique(points, axis=0, return_inverse=True)
    keep = np.zeros(len(unique), dtype=bool)
    front = unique[:0]
    for start in range(0, len(unique), _BLOCK):
        block = unique[start : start + _BLOCK]
        # Distinct points: no worse everywhere means better somewhere, i.e. dominates.
        earlier = np.triu(_no_worse(block, block), k=1)
        dominated = earlier.any(axis=0) | _no_worse(front, block).any(axis=0)
        keep[start : start + len(block)] = ~dominated
        front = np.concatenate([front, block[~dominated]])
    return np.asarray(keep[inverse.reshape(-1)])


def _no_worse(rows: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``matrix[i, j]``: ``rows[i]`` is no worse than ``points[j]`` on every objective."""
    result = np.ones((len(rows), len(points)), dtype=bool)
    for k in range(points.shape[1]):
        result &= rows[:, k, None] <= points[None, :, k]
    return result


def non_dominated_fronts(
    points: np.ndarray | Sequence[Sequence[float]], enough: int | None = None
) -> list[np.ndarray]:
    """Indices of the points front by front: front 0 is the Pareto front, front 1 the Pareto
    front of the rest, and so on (Deb et al.'s fast non-dominated sort, vectorized). With
    ``enough``, stops once the fronts found hold at least that many points."""
    array = _as_points(points)
    limit = len(array) if enough is None else min(enough, len(array))
    if array.shape[1] == 1:
        # One objective: fronts are the groups of equal values, best first.
        values, group = np.unique(array[:, 0], return_inverse=True)
        order = np.argsort(group.reshape(-1), kind="stable")
        bounds = np.searchsorted(group.reshape(-1)[order], np.arange(len(values) + 1))
        fronts = [order[bounds[i] : bounds[i + 1]] for i in range(len(values))]
        count = np.cumsum([len(f) for f in fronts])
        return fronts[: int(np.searchsorted(count, limit)) + 1] if limit else []
    matrix = _domination_matrix(array)
    dominated_by = matrix.sum(axis=0)
    fronts = []
    remaining = np.ones(len(array), dtype=bool)
    found = 0
    while found < limit:
        front = np.flatnonzero(remaining & (dominated_by == 0))
        fronts.append(front)
        found += len(front)
        remaining[front] = False
        dominated_by = dominated_by - matrix[front].sum(axis=0)
        dominated_by[~remaining] = -1
    return fronts


def default_reference_point(points: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    """The reference point used when none is given: per objective, the worst observed loss
    plus ``REFERENCE_MARGIN`` (10%) of the observed range (worst - best). When an objective
    has a single observed value, the margin is 10% of that value's magnitude (at least 0.1)."""
    array = _as_points(points)
    if len(array) == 0:
        raise ValueError("a reference point needs at least one observed point")
    worst, best = array.max(axis=0), array.min(axis=0)
    spread = worst - best
    fallback = np.maximum(np.abs(worst), 1.0)
    return np.asarray(worst + REFERENCE_MARGIN * np.where(spread > 0, spread, fallback))


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]],
    reference: np.ndarray | Sequence[float],
) -> float:
    """Volume of the region dominated by ``points`` and bounded by ``reference`` (losses).

    Points not strictly better than the reference in every objective add nothing; an empty
    set has hypervolume 0.
    """
    array = _as_points(points)
    ref = np.asarray(reference, dtype=float)
    if ref.shape != (array.shape[1],):
        raise ValueError(
            f"reference point has {ref.size} values but the points have {array.shape[1]} "
            "objectives; give one value per objective"
        )
    array = array[np.all(array < ref, axis=1)]
    if len(array) == 0:
        return 0.0
    return _volume(array, ref)


def _volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Hypervolume of points that are all strictly inside the reference box."""
    objectives = points.shape[1]
    if objectives == 1:
        return float(ref[0] - points[:, 0].min())
    if objectives == 2:
        return _volume_2d(points, ref)
    if objectives == 3:
        return _volume_3d(points, ref)
    points = points[pareto_mask(points)]
    # Worst first in objective 0: every later point is at least as good there, so its box
    # clipped to the current point's box spans the same slab [p0, ref0] of objective 0.
    order = np.argsort(-points[:, 0], kind="stable")
    points = points[order]
    total = 0.0
    for i, point in enumerate(points):
        box = float(np.prod(ref[1:] - point[1:]))
        covered = 0.0
        if i + 1 < len(points):
            covered = _volume(np.maximum(points[i + 1 :, 1:], point[1:]), ref[1:])
        total += (ref[0] - point[0]) * (box - covered)
    return total


def _volume_3d(points: np.ndarray, ref: np.ndarray) -> float:
    """Slices along objective 0: between consecutive values, the covered area in objectives
    1 and 2 is the 2-D hypervolume of the points already passed (n sweeps, no pruning)."""
    order = np.argsort(points[:, 0], kind="stable")
    points = points[order]
    depths = np.diff(np.append(points[:, 0], ref[0]))
    total = 0.0
    for i in np.flatnonzero(depths > 0):
        total += float(depths[i]) * _volume_2d(points[: i + 1, 1:], ref[1:])
    return total


def _volume_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """Sort by the first objective and sweep: each step adds a rectangle whose height is the
    best second objective seen so far (dominated points add nothing)."""
    order = np.lexsort((points[:, 1], points[:, 0]))
    x, y = points[order, 0], points[order, 1]
    widths = np.diff(np.append(x, ref[0]))
    heights = ref[1] - np.minimum.accumulate(y)
    return float(np.dot(widths, heights))
