"""tpe's good/bad split: by loss, by Pareto rank with a hypervolume tie-break, feasible first."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubetune.algorithms._tpe_split import good_first, greedy_hypervolume_subset
from kubetune.hypervolume import (
    default_reference_point,
    dominates,
    hypervolume,
    non_dominated_fronts,
)


def test_one_objective_ranks_by_loss_keeping_row_order_on_ties() -> None:
    losses = np.array([[3.0], [1.0], [2.0], [1.0]])
    assert good_first(losses, np.zeros(4), 2).tolist() == [1, 3, 2, 0]


def test_infeasible_rows_come_last_the_least_violation_first() -> None:
    losses = np.array([[0.0], [5.0], [1.0], [9.0], [2.0]])
    violations = np.array([2.0, 0.0, math.inf, 0.0, 0.5])
    # Feasible by loss (1, 3), then violation 0.5 (4), 2 (0), never reported (2).
    assert good_first(losses, violations, 1).tolist() == [1, 3, 4, 0, 2]


def test_several_objectives_take_whole_fronts_then_the_most_hypervolume() -> None:
    front = [[0.0, 1.0], [0.1, 0.5], [0.2, 0.45], [0.5, 0.1], [1.0, 0.0]]
    behind = [[2.0, 2.0], [3.0, 3.0]]
    losses = np.array(behind + front)
    order = good_first(losses, np.zeros(len(losses)), 3)
    # (0.1, 0.5) and (0.5, 0.1) cover the most; then (0.2, 0.45) adds more than an extreme.
    assert order[:3].tolist() == [3, 5, 4]
    assert sorted(order.tolist()) == list(range(len(losses)))


def test_the_greedy_subset_beats_any_other_choice_of_one() -> None:
    front = np.array([[0.0, 1.0], [0.3, 0.4], [1.0, 0.0]])
    # Reference (1.1, 1.1): the middle point's box (0.8 * 0.7) beats either extreme's.
    assert greedy_hypervolume_subset(front, 1).tolist() == [1]


fronts_2d = st.lists(
    st.tuples(st.floats(0, 1, allow_nan=False), st.floats(0, 1, allow_nan=False)),
    min_size=2,
    max_size=25,
)


@given(fronts_2d, st.integers(1, 25))
def test_the_greedy_subset_has_distinct_rows_and_its_first_pick_is_the_best_single_row(
    points: list[tuple[float, float]], count: int
) -> None:
    losses = np.array(points)
    front = losses[non_dominated_fronts(losses)[0]]
    count = min(count, len(front))
    chosen = greedy_hypervolume_subset(front, count)
    assert len(set(chosen.tolist())) == count
    if count == 1:  # greedy is exact for one point
        reference = default_reference_point(front)
        best = max(hypervolume(front[[i]], reference) for i in range(len(front)))
        assert hypervolume(front[chosen], reference) == pytest.approx(best)


rows = st.lists(
    st.tuples(
        st.floats(0, 10, allow_nan=False),
        st.floats(0, 10, allow_nan=False),
        st.sampled_from([0.0, 0.0, 0.0, 0.5, 2.0, math.inf]),
    ),
    min_size=1,
    max_size=40,
)


@given(rows, st.integers(1, 40))
def test_no_feasible_row_left_out_of_the_good_group_dominates_one_in_it(
    points: list[tuple[float, float, float]], n_good: int
) -> None:
    losses = np.array([p[:2] for p in points])
    violations = np.array([p[2] for p in points])
    order = good_first(losses, violations, n_good)
    assert sorted(order.tolist()) == list(range(len(points)))
    good, rest = order[:n_good], order[n_good:]
    feasible_rest = [j for j in rest if violations[j] == 0]
    for i in good:
        if violations[i] > 0:  # only once every feasible row is good
            assert not feasible_rest
            continue
        assert not any(dominates(losses[j], losses[i]) for j in feasible_rest)
    infeasible = [violations[j] for j in order if violations[j] > 0]
    assert infeasible == sorted(infeasible)
