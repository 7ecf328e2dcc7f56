"""The multi-objective benchmark problems are the published ones: DTLZ2's front is the unit
sphere's orthant (3 and 4 objectives), and C2-DTLZ2's constraint keeps exactly the balls of
radius 0.4 around the front's corners and its centre point."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks.multi_objective import C2DTLZ2_RADIUS, PROBLEMS, c2dtlz2

unit = st.floats(0, 1)


@pytest.mark.parametrize("name", ["dtlz2", "dtlz2_4"])
@given(position=st.tuples(unit, unit, unit))
def test_dtlz2_points_with_centred_distance_variables_lie_on_the_unit_sphere(
    name: str, position: tuple[float, float, float]
) -> None:
    problem = PROBLEMS[name]
    objectives = len(problem.objectives)
    # The first objectives - 1 parameters place the point; the rest, centred, put it on the front.
    params = {f"x{i}": position[i] if i < objectives - 1 else 0.5 for i in range(6)}
    values = problem.evaluate(params)
    assert len(values) == objectives
    assert sum(v * v for v in values) == pytest.approx(1.0)
    assert min(values) >= -1e-12


def on_front(a: float, b: float) -> dict[str, float]:
    """Parameters of the DTLZ2 front point at polar angle a and azimuth b (radians)."""
    return {"x0": a / (math.pi / 2), "x1": b / (math.pi / 2)} | {f"x{i}": 0.5 for i in range(2, 6)}


def test_c2dtlz2_keeps_the_corners_and_the_centre_and_cuts_the_rest() -> None:
    corner = c2dtlz2(on_front(0.0, 0.0))  # f = (1, 0, 0)
    assert corner[:3] == pytest.approx((1.0, 0.0, 0.0))
    assert corner[3] == pytest.approx(-(C2DTLZ2_RADIUS**2))
    centre = c2dtlz2(on_front(math.asin(1 / math.sqrt(3)), math.pi / 4))  # (1, 1, 1) / sqrt 3
    assert centre[3] == pytest.approx(-(C2DTLZ2_RADIUS**2))
    between = c2dtlz2(on_front(0.0, math.pi / 4))  # (1, 1, 0) / sqrt 2: far from all five
    assert between[3] > 0
    problem = PROBLEMS["c2dtlz2"]
    assert problem.feasible(corner) and problem.feasible(centre)
    assert not problem.feasible(between)
