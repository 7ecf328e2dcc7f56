"""The variation operators genetic and nsga2 share: bounds of crossover and mutation, and
children that are valid, snapped parameter sets of any mixed space."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import spaces

from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._variation import (
    Crossover,
    Variation,
    blend,
    polynomial,
    simulated_binary,
)
from kubetune.space import SearchSpace

unit_points = st.lists(st.floats(0, 1), min_size=1, max_size=6)


@given(a=unit_points, b=unit_points, alpha=st.floats(0, 2), seed=st.integers(0, 2**16))
def test_blend_lands_in_the_widened_interval_and_the_unit_cube(
    a: list[float], b: list[float], alpha: float, seed: int
) -> None:
    size = min(len(a), len(b))
    x, y = np.array(a[:size]), np.array(b[:size])
    child = blend(x, y, alpha, np.random.default_rng(seed))
    gap = np.abs(x - y)
    assert np.all((child >= 0) & (child <= 1))
    assert np.all(child >= np.minimum(x, y) - alpha * gap - 1e-12)
    assert np.all(child <= np.maximum(x, y) + alpha * gap + 1e-12)


def test_blend_without_alpha_stays_between_the_parents() -> None:
    rng = np.random.default_rng(0)
    children = np.array([blend(np.array([0.2]), np.array([0.6]), 0.0, rng) for _ in range(200)])
    assert children.min() >= 0.2 and children.max() <= 0.6
    # And it covers the interval rather than sticking to the parents.
    assert children.min() < 0.25 and children.max() > 0.55


@given(a=unit_points, b=unit_points, eta=st.floats(0.5, 50), seed=st.integers(0, 2**16))
def test_simulated_binary_children_stay_in_the_unit_cube(
    a: list[float], b: list[float], eta: float, seed: int
) -> None:
    size = min(len(a), len(b))
    x, y = np.array(a[:size]), np.array(b[:size])
    near_a, near_b = simulated_binary(x, y, eta, np.random.default_rng(seed))
    for child in (near_a, near_b):
        assert np.all((child >= 0) & (child <= 1))
    # Equal parents have equal children.
    same = np.isclose(x, y, atol=1e-13, rtol=0)
    assert np.array_equal(near_a[same], x[same])


@given(u=st.floats(0, 1), eta=st.floats(0.5, 50), seed=st.integers(0, 2**16))
def test_polynomial_mutation_stays_in_the_unit_interval(u: float, eta: float, seed: int) -> None:
    assert 0.0 <= polynomial(u, eta, np.random.default_rng(seed)) <= 1.0


def _variation(space: SearchSpace, crossover: Crossover) -> Variation:
    return Variation(
        Geometry.of(space),
        crossover,
        crossover_probability=1.0,
        swapping_probability=0.5,
        mutation_probability=1.0,
        crossover_eta=15.0,
        mutation_eta=20.0,
    )


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16), crossover=st.sampled_from(list(Crossover)))
def test_children_of_any_two_parents_are_valid_parameter_sets(
    space: SearchSpace, seed: int, crossover: Crossover
) -> None:
    rng = np.random.default_rng(seed)
    variation = _variation(space, crossover)
    geometry = variation.geometry
    first, second = geometry.encode_many(space.sample(rng, 2))
    child = variation.breed(first, second, rng)
    params = space.decode(child)
    assert space.errors(params) == []
    # Snapped: decoding and encoding again gives the same point (inactive ones nan).
    assert np.allclose(geometry.encode_many([params])[0], child, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(space=spaces(), seed=st.integers(0, 2**16))
def test_mutation_always_moves_a_discrete_value(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    variation = _variation(space, Crossover.BLEND)
    geometry = variation.geometry
    (point,) = geometry.snap(geometry.encode_many(space.sample(rng, 1)))
    for dim in np.flatnonzero(geometry.discrete & ~np.isnan(point)):
        if geometry.levels[dim] < 2:
            continue
        moved = variation.mutate(int(dim), float(point[dim]), rng)
        snapped = geometry.snap(np.where(np.arange(len(point)) == dim, moved, point)[None, :])
        assert snapped[0, dim] != point[dim]
