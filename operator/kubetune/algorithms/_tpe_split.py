"""Which completed trials TPE counts as good: by loss, by Pareto rank, feasible ones first.

TPE models the "good" trials (the best ``n_good``) against the rest. With one objective, good
means the lowest losses. With several there is no single order, so trials are ranked as MOTPE
does (Ozaki et al. 2020, and Optuna's multi-objective TPE): whole non-dominated fronts while
they fit, then, from the front that does not fit, the members that add the most hypervolume —
a greedy answer to the hypervolume subset selection problem, which keeps the good group spread
along the front instead of bunched at one end.

With ``spec.constraints`` (c-TPE, Optuna's constrained TPE) every feasible trial ranks before
every infeasible one, and infeasible trials rank among themselves by their total violation,
the least first (a constraint metric never reported is an infinite violation). So infeasible
trials are bad as long as enough feasible ones exist; before that, the least infeasible fill the
good group and pull the search towards the feasible region.
"""

from __future__ import annotations

import numpy as np

from kubetune.hypervolume import default_reference_point, hypervolume, non_dominated_fronts


def good_first(losses: np.ndarray, violations: np.ndarray, n_good: int) -> np.ndarray:
    """All rows of ``losses`` (n, objectives), reordered so the first ``n_good`` are the good
    group. One objective: every row in loss order (ties keep row order); several: the good
    rows, then the rest of the feasible rows, in row order. Infeasible rows (``violations`` >
    0) come last, the least violation first."""
    feasible = np.flatnonzero(violations <= 0)
    infeasible = np.flatnonzero(violations > 0)
    by_violation = infeasible[np.argsort(violations[infeasible], kind="stable")]
    if losses.shape[1] == 1:
        by_loss = feasible[np.argsort(losses[feasible, 0], kind="stable")]
        return np.concatenate([by_loss, by_violation])
    good = feasible[_pareto_best(losses[feasible], min(n_good, len(feasible)))]
    rest = np.setdiff1d(feasible, good, assume_unique=True)
    return np.concatenate([good, rest, by_violation])


def _pareto_best(losses: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` rows: whole non-dominated fronts while they fit, then the
    greedy hypervolume subset of the front that does not."""
    chosen: list[np.ndarray] = []
    room = count
    for front in non_dominated_fronts(losses, enough=count):
        if room <= 0:
            break
        if len(front) <= room:
            chosen.append(front)
        else:
            chosen.append(front[greedy_hypervolume_subset(losses[front], room)])
        room -= len(chosen[-1])
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


def greedy_hypervolume_subset(front: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` rows of ``front`` (mutually non-dominated losses) chosen one at a
    time, each the one adding the most hypervolume to those chosen before (ties: first row).

    The reference point is the front's default one (``hypervolume.default_reference_point``).
    A row's gain can only shrink as more rows are chosen (hypervolume is submodular), so a
    stale gain is an upper bound and only rows whose bound could win are re-evaluated (lazy
    greedy): a handful of hypervolume computations per pick instead of one per row.
    """
    reference = default_reference_point(front)
    gains = np.prod(reference - front, axis=1)  # each row's gain over choosing nothing
    fresh_at = np.zeros(len(front), dtype=int)  # how many rows were chosen when gain was computed
    open_rows = np.ones(len(front), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < count:
        best = int(np.argmax(np.where(open_rows, gains, -np.inf)))
        if fresh_at[best] < len(chosen):
            covered = hypervolume(np.maximum(front[chosen], front[best]), reference)
            gains[best] = float(np.prod(reference - front[best])) - covered
            fresh_at[best] = len(chosen)
            continue
        chosen.append(best)
        open_rows[best] = False
    return np.array(chosen, dtype=int)
