"""The intermediate series stays within the Trial's limit and keeps the points that matter."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubetune_runner._bounded import MAX_INTERMEDIATE_POINTS, BoundedSeries
from kubetune_runner._env import Objective

MAXIMIZE = Objective("acc", "maximize")
MINIMIZE = Objective("loss", "minimize")


def test_limit_matches_the_trial_resource() -> None:
    trial = pytest.importorskip("kubetune.api.trial")
    assert trial.MAX_INTERMEDIATE_POINTS == MAX_INTERMEDIATE_POINTS


def test_points_are_sorted_and_a_repeated_step_merges() -> None:
    series = BoundedSeries()
    series.add(5, {"acc": 0.5})
    series.add(1, {"acc": 0.1})
    series.add(5, {"loss": 2.0})
    series.add(5, {"acc": 0.6})
    assert series.to_status() == [
        {"step": 1, "values": {"acc": 0.1}},
        {"step": 5, "values": {"acc": 0.6, "loss": 2.0}},
    ]


def test_overflow_drops_every_other_interior_point() -> None:
    series = BoundedSeries(limit=10)
    for step in range(11):
        series.add(step, {"acc": 0.0})
    steps = [step for step, _ in series.points()]
    assert steps == [0, 1, 3, 5, 7, 9, 10]


def test_older_points_fill_gaps_but_never_override() -> None:
    series = BoundedSeries()
    series.add(2, {"acc": 0.9})
    series.add_older([(1, {"acc": 0.1}), (2, {"acc": 0.2, "loss": 3.0})])
    assert series.points() == [(1, {"acc": 0.1}), (2, {"acc": 0.9, "loss": 3.0})]


def test_the_limit_must_leave_room_for_first_last_and_best() -> None:
    with pytest.raises(ValueError, match="cannot keep"):
        BoundedSeries([MAXIMIZE, MINIMIZE], limit=3)


reports = st.lists(
    st.tuples(
        st.integers(0, 2000),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.floats(-1e6, 1e6, allow_nan=False),
    ),
    min_size=1,
    max_size=400,
    # A step reported again replaces its values: if that makes the kept best point worse,
    # a point dropped earlier (not the best then) may have been the best now. No bounded
    # series can promise otherwise, so the best-point property is checked on distinct
    # steps and distinct values (ties are the same case in small).
    unique_by=(lambda r: r[0], lambda r: r[1], lambda r: r[2]),
)


@given(reports=reports, limit=st.integers(4, 120))
def test_bounded_and_keeps_first_last_and_best(
    reports: list[tuple[int, float, float]], limit: int
) -> None:
    series = BoundedSeries([MAXIMIZE, MINIMIZE], limit=limit)
    final: dict[int, dict[str, float]] = {}
    for step, acc, loss in reports:
        series.add(step, {"acc": acc, "loss": loss})
        final[step] = {"acc": acc, "loss": loss}
        assert len(series) <= limit

    points = dict(series.points())
    steps = sorted(points)
    assert steps[0] == min(final) and steps[-1] == max(final)  # first and last steps
    assert all(points[step] == final[step] for step in steps)  # merged values are the latest
    # The best value of each objective is held by some kept point. (Merging into a step may
    # make an earlier best point no longer the best; the current best must survive.)
    assert max(v["acc"] for v in points.values()) == max(v["acc"] for v in final.values())
    assert min(v["loss"] for v in points.values()) == min(v["loss"] for v in final.values())


@given(steps=st.lists(st.integers(0, 10**6), min_size=1, max_size=500))
def test_without_objectives_first_and_last_survive(steps: list[int]) -> None:
    series = BoundedSeries()
    for step in steps:
        series.add(step, {"acc": 0.0})
    kept = [step for step, _ in series.points()]
    assert len(kept) <= MAX_INTERMEDIATE_POINTS
    assert kept[0] == min(steps) and kept[-1] == max(steps)
    assert kept == sorted(set(kept))
