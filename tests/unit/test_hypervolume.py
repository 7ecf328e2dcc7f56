"""Hypervolume, Pareto fronts and the default reference point, checked against their
definitions: property tests on random point sets and a brute-force grid count in 3-D."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.hypervolume import (
    default_reference_point,
    dominates,
    hypervolume,
    non_dominated_fronts,
    pareto_mask,
)


@st.composite
def point_sets(draw: st.DrawFn, objectives: int | None = None, most: int = 12) -> np.ndarray:
    """Loss vectors on a coarse grid (so ties and duplicates happen) inside [0, 1)^m."""
    m = objectives or draw(st.integers(1, 4))
    n = draw(st.integers(1, most))
    cells = draw(st.lists(st.integers(0, 9), min_size=n * m, max_size=n * m))
    return np.array(cells, dtype=float).reshape(n, m) / 10.0


REFERENCE = 1.0  # every generated coordinate is below it


@given(point_sets(), st.data())
def test_adding_a_point_never_lowers_the_hypervolume(points: np.ndarray, data: st.DataObject):
    m = points.shape[1]
    extra = data.draw(point_sets(objectives=m, most=1))
    ref = np.full(m, REFERENCE)
    assert hypervolume(np.vstack([points, extra]), ref) >= hypervolume(points, ref) - 1e-12


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=4))
def test_a_single_point_covers_the_box_up_to_the_reference(point: list[float]):
    ref = np.array(point) + np.arange(1, len(point) + 1)
    assert hypervolume([point], ref) == pytest.approx(math.prod(ref - np.array(point)))


@given(point_sets(), st.randoms(use_true_random=False))
def test_the_order_of_the_points_does_not_matter(points: np.ndarray, random):
    ref = np.full(points.shape[1], REFERENCE)
    shuffled = points[random.sample(range(len(points)), len(points))]
    assert hypervolume(shuffled, ref) == pytest.approx(hypervolume(points, ref))


@given(point_sets())
def test_dominated_points_add_nothing(points: np.ndarray):
    ref = np.full(points.shape[1], REFERENCE)
    front = points[pareto_mask(points)]
    assert hypervolume(front, ref) == pytest.approx(hypervolume(points, ref))
    worse = np.minimum(points[0] + 0.05, REFERENCE - 1e-9)  # dominated by points[0] (or equal)
    assert hypervolume(np.vstack([points, worse]), ref) == pytest.approx(hypervolume(points, ref))


def _grid_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: count the cells of a 1/10 grid that some point dominates. Exact for
    points on that grid, since a cell is either wholly dominated or not at all."""
    step = 0.1
    axes = [np.arange(0.0, r, step) + step / 2 for r in ref]
    cells = np.array(list(itertools.product(*axes)))
    covered = np.zeros(len(cells), dtype=bool)
    for point in points:
        covered |= np.all(cells >= point, axis=1)
    return float(covered.sum()) * step ** len(ref)


@settings(max_examples=60)
@given(point_sets(objectives=3, most=10))
def test_three_objectives_agree_with_a_brute_force_count(points: np.ndarray):
    ref = np.full(3, REFERENCE)
    assert hypervolume(points, ref) == pytest.approx(_grid_volume(points, ref), abs=1e-9)


@settings(max_examples=30)
@given(point_sets(objectives=4, most=8))
def test_four_objectives_agree_with_a_brute_force_count(points: np.ndarray):
    ref = np.full(4, REFERENCE)
    assert hypervolume(points, ref) == pytest.approx(_grid_volume(points, ref), abs=1e-9)


def test_two_objectives_known_staircase():
    points = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [2.5, 2.5]]
    # Rectangles of the staircase up to (4, 4): 1*1 + 2*2 + 3*1... computed by columns:
    # x in [1,2): height 1; [2,3): height 2; [3,4): height 3.
    assert hypervolume(points, [4.0, 4.0]) == pytest.approx(1 + 2 + 3)


def test_points_beyond_the_reference_add_nothing():
    assert hypervolume([[5.0, 0.0], [0.0, 5.0]], [4.0, 4.0]) == 0.0
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0


def test_a_reference_point_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="one value per objective"):
        hypervolume([[1.0, 2.0]], [3.0, 3.0, 3.0])


@given(point_sets())
def test_fronts_partition_the_points_and_each_is_non_dominated(points: np.ndarray):
    fronts = non_dominated_fronts(points)
    assert sorted(np.concatenate(fronts).tolist()) == list(range(len(points)))
    assert set(fronts[0].tolist()) == set(np.flatnonzero(pareto_mask(points)).tolist())
    for earlier, later in itertools.pairwise(fronts):
        for j in later:  # every point of a later front is dominated by one of the front before
            assert any(dominates(points[i], points[j]) for i in earlier)
        for i, j in itertools.product(later, later):
            assert not dominates(points[i], points[j])


@given(point_sets())
def test_the_default_reference_point_is_beyond_every_point(points: np.ndarray):
    ref = default_reference_point(points)
    assert np.all(ref > points.max(axis=0))
    assert hypervolume(points, ref) > 0


def test_the_default_reference_point_adds_a_tenth_of_the_range():
    ref = default_reference_point([[0.0, 10.0], [2.0, 30.0]])
    assert ref.tolist() == pytest.approx([2.2, 32.0])


@given(point_sets(), st.integers(0, 12))
def test_fronts_can_stop_once_enough_points_are_ranked(points: np.ndarray, enough: int):
    full = non_dominated_fronts(points)
    some = non_dominated_fronts(points, enough=enough)
    assert [f.tolist() for f in some] == [f.tolist() for f in full[: len(some)]]
    assert sum(len(f) for f in some) >= min(enough, len(points))
    assert sum(len(f) for f in some[:-1]) < enough or not some


@given(point_sets(most=300))
@settings(max_examples=60)
def test_the_pareto_mask_is_exactly_the_points_nothing_dominates(points: np.ndarray):
    # Up to 300 points: several blocks of the sorted scan, ties and duplicates on the grid.
    expected = [not any(dominates(other, p) for other in points) for p in points]
    assert pareto_mask(points).tolist() == expected
