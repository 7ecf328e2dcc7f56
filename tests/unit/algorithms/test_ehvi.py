"""log-EHVI and log probability of feasibility: bayesopt's acquisitions for several objectives
and for constraints, against exact hypervolumes, Monte-Carlo estimates and finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kubetune.algorithms import _ehvi
from kubetune.algorithms._acquisition import log_feasibility, log_feasibility_with_gradient
from kubetune.algorithms._ehvi import cells, log_ehvi, log_ehvi_with_gradient
from kubetune.hypervolume import hypervolume


def improvement_over_cells(region: _ehvi.Cells, y: np.ndarray, reference: np.ndarray) -> float:
    """The volume the cells share with the box [y, reference]: the hypervolume improvement."""
    total = 0.0
    for row in region.index:
        side = [
            max(0.0, min(region.highs[j][i], reference[j]) - max(region.lows[j][i], y[j]))
            for j, i in enumerate(row)
        ]
        total += float(np.prod(side))
    return total


@settings(max_examples=30, deadline=None)
@given(
    objectives=st.integers(2, 4),
    points=st.integers(0, 7),
    seed=st.integers(0, 2**16),
)
def test_the_cells_are_exactly_the_region_the_front_leaves(
    objectives: int, points: int, seed: int
) -> None:
    """For any candidate, its overlap with the cells is its exact hypervolume improvement."""
    rng = np.random.default_rng(seed)
    front = rng.random((points, objectives))
    reference = np.full(objectives, 1.1)
    region = cells(front, reference)
    before = hypervolume(front, reference) if points else 0.0
    for y in rng.random((5, objectives)) * 1.2 - 0.1:
        exact = hypervolume(np.vstack([front, y]), reference) - before
        assert improvement_over_cells(region, y, reference) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("objectives", [2, 3])
def test_log_ehvi_matches_a_monte_carlo_estimate(objectives: int) -> None:
    rng = np.random.default_rng(objectives)
    front = rng.random((5, objectives))
    reference = np.full(objectives, 1.2)
    region = cells(front, reference)
    mean = rng.random((3, objectives)) * 0.8
    var = rng.random((3, objectives)) * 0.05 + 0.01
    expected = np.exp(log_ehvi(mean, var, region))
    before = hypervolume(front, reference)
    for i in range(3):
        samples = mean[i] + np.sqrt(var[i]) * rng.standard_normal((3000, objectives))
        gains = [hypervolume(np.vstack([front, y]), reference) - before for y in samples]
        error = np.std(gains) / np.sqrt(len(gains))
        assert abs(expected[i] - np.mean(gains)) < 4 * error + 1e-9, (expected[i], np.mean(gains))


def test_log_ehvi_stays_finite_and_informative_where_ehvi_underflows() -> None:
    region = cells(np.array([[0.0, 0.0]]), np.array([1.0, 1.0]))
    # Far behind the front and certain: EHVI is 0 in float64.
    mean = np.array([[30.0, 30.0], [40.0, 40.0]])
    var = np.full((2, 2), 1e-4)
    value, dmean, dvar = log_ehvi_with_gradient(mean, var, region)
    assert np.all(np.exp(value) == 0.0)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(dmean)) and np.all(np.isfinite(dvar))
    assert value[0] > value[1], "the nearer candidate must score higher"
    assert np.all(dmean < 0) and np.all(dvar > 0), "lower means and more doubt must help"


@pytest.mark.parametrize("objectives", [2, 3, 4])
def test_log_ehvi_gradients_match_finite_differences(objectives: int) -> None:
    rng = np.random.default_rng(7)
    region = cells(rng.random((6, objectives)), np.full(objectives, 1.2))
    mean = rng.random((4, objectives))
    var = rng.random((4, objectives)) * 0.1 + 0.05
    value, dmean, dvar = log_ehvi_with_gradient(mean, var, region)
    assert value == pytest.approx(log_ehvi(mean, var, region))
    step = 1e-6
    for j in range(objectives):
        shift = np.zeros_like(mean)
        shift[:, j] = step
        by_mean = (log_ehvi(mean + shift, var, region) - log_ehvi(mean - shift, var, region)) / (
            2 * step
        )
        by_var = (log_ehvi(mean, var + shift, region) - log_ehvi(mean, var - shift, region)) / (
            2 * step
        )
        assert dmean[:, j] == pytest.approx(by_mean, rel=1e-4, abs=1e-6)
        assert dvar[:, j] == pytest.approx(by_var, rel=1e-4, abs=1e-6)


def test_a_large_front_of_four_objectives_is_thinned_to_fit() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((400, 4))
    front = points / np.linalg.norm(points, axis=1, keepdims=True)  # all on the sphere
    region = cells(front, np.full(4, 1.5))
    assert len(region.index) <= _ehvi.MAX_CELLS
    # The extremes survive: nothing can improve on any objective's best value for free.
    for j in range(4):
        assert front[:, j].min() in region.highs[j] or front[:, j].min() in region.lows[j]


def test_log_feasibility_is_the_normal_probability_and_never_underflows() -> None:
    mean = np.array([-1.0, 0.0, 2.0, 60.0])
    var = np.array([1.0, 4.0, 0.25, 1.0])
    value = log_feasibility(mean, var, 0.5)
    assert np.exp(value[:3]) == pytest.approx(stats.norm.cdf(0.5, mean[:3], np.sqrt(var[:3])))
    assert np.isfinite(value[3]) and np.exp(value[3]) == 0.0


def test_log_feasibility_gradient_matches_finite_differences() -> None:
    mean = np.array([-1.0, 0.3, 8.0])
    var = np.array([1.0, 0.5, 0.2])
    eye = np.eye(3)
    # d mean / d x and d var / d x of a made-up one-coordinate model: mean + x, var * (1 + x).
    _, grad = log_feasibility_with_gradient(mean, var, 0.0, np.ones((3, 1)), var[:, None])
    step = 1e-6
    for i in range(3):
        up = log_feasibility(mean + step * eye[i], var * (1 + step * eye[i]), 0.0)[i]
        down = log_feasibility(mean - step * eye[i], var * (1 - step * eye[i]), 0.0)[i]
        assert grad[i, 0] == pytest.approx((up - down) / (2 * step), rel=1e-5)


def test_log_ehvi_gradients_stay_finite_far_from_the_front_with_no_doubt() -> None:
    """A candidate hundreds of standard deviations from the front in some objectives and
    ahead of it in another: a ratio of an interval's parts to its overlap overflowed (a
    RuntimeWarning) where the interval's share of the improvement was all but 0, and the
    gradient became inf or NaN, which the acquisition search then read as 0."""
    rng = np.random.default_rng(3)
    front = rng.random((5, 3))
    front = front[np.argsort(front[:, 0])]
    region = cells(front, np.full(3, 1.2))
    mean = np.array([[89.5, 159.7, -119.2], [517.1, -40.0, 360.8], [465.8, -188.3, 533.6]])
    var = np.array([[1e-12, 1e-7, 1e-13], [2e-14, 1e-12, 8e-12], [6e-2, 4e-10, 3.5e-2]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, dmean, dvar = log_ehvi_with_gradient(mean, var, region)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(dmean)) and np.all(np.isfinite(dvar))
