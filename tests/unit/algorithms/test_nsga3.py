"""nsga3: the Das–Dennis lattice, normalization and niching, constrained domination,
settings, and quality against random search (DTLZ2). The contract and restart checks of the
machinery it shares with nsga2 run for both in test_nsga2."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from model_based_checks import float_space

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._nsga3 import (
    associate,
    default_divisions,
    niche,
    normalize,
    reference_directions,
)
from kubetune.api.study import Direction, Objective
from kubetune.history import History, TrialRecord, TrialState
from kubetune.hypervolume import hypervolume
from kubetune.space import Value

THREE = tuple(Objective(metric=f"f{k}", direction=Direction.MINIMIZE) for k in range(3))
SMALL = {"populationSize": 6}  # so short histories already breed children


@given(objectives=st.integers(1, 5), divisions=st.integers(1, 8))
def test_the_lattice_is_every_split_of_the_divisions(objectives: int, divisions: int) -> None:
    directions = reference_directions(objectives, divisions)
    expected = math.comb(divisions + objectives - 1, objectives - 1) if objectives > 1 else 1
    assert directions.shape == (expected, objectives)
    assert np.allclose(directions.sum(axis=1), 1.0)
    assert (directions >= 0).all()
    if objectives > 1:
        shares = directions * divisions
        assert np.allclose(shares, np.round(shares))
    assert len({row.tobytes() for row in directions}) == expected


@given(objectives=st.integers(2, 5), population=st.integers(2, 200))
def test_default_divisions_fill_the_population_without_exceeding_it(
    objectives: int, population: int
) -> None:
    divisions = default_divisions(objectives, population)
    count = math.comb(divisions + objectives - 1, objectives - 1)
    more = math.comb(divisions + objectives, objectives - 1)
    assert divisions == 1 or count <= population
    assert more > population


def test_normalization_does_not_depend_on_the_objectives_units() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((20, 3))
    points /= points.sum(axis=1, keepdims=True)  # a simplex front
    scaled = points * np.array([1.0, 100.0, 0.01]) + np.array([5.0, -3.0, 0.0])
    assert np.allclose(normalize(points), normalize(scaled))


def test_a_degenerate_front_is_normalized_without_failing() -> None:
    same = np.ones((4, 3))
    assert np.isfinite(normalize(same)).all()
    line = np.array([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    assert np.isfinite(normalize(line)).all()


def test_points_are_associated_with_the_nearest_direction() -> None:
    directions = reference_directions(2, 2)  # (0, 1), (0.5, 0.5), (1, 0)
    nearest, distance = associate(np.array([[0.0, 2.0], [1.0, 1.1], [3.0, 0.1]]), directions)
    assert nearest.tolist() == [0, 1, 2]
    assert distance[0] == pytest.approx(0.0)
    assert distance[1] == pytest.approx(0.1 / math.sqrt(2))


def test_niching_spreads_the_last_front_over_the_directions() -> None:
    """A front crowded at one corner: three survivors come one from each corner, where
    crowding distance alone would keep the crowded corner's extremes."""
    corner = [[1.0 - e, e / 2, e / 2] for e in np.linspace(0.0, 0.1, 8)]
    front = np.array([*corner, [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    picked = niche(
        front, [], np.arange(len(front)), 3, reference_directions(3, 1), np.random.default_rng(0)
    )
    assert {8, 9} <= set(picked)
    assert len(set(picked) & set(range(8))) == 1


def test_niching_prefers_directions_the_kept_rows_left_empty() -> None:
    front = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    # Rows 0 and 1 are already kept (near (1, 0)); of 2 and 3, near (0, 1), one is wanted.
    picked = niche(
        front, [0, 1], np.array([2, 3]), 1, reference_directions(2, 1), np.random.default_rng(0)
    )
    assert picked == [2]  # the closest to the empty direction


def test_feasible_rows_rank_before_infeasible_ones() -> None:
    """Constrained domination: rows 0-2 are as good (one front with 3-5) but infeasible."""
    suggester = create("nsga3", float_space(2), {"populationSize": 4}, 0)
    losses = np.array([[float(i), float(-i), 0.0] for i in range(6)])
    violations = np.array([2.0, 1.0, 3.0, 0.0, 0.0, 0.0])
    kept, rank, _ = suggester.survivors(losses, violations, 2)  # type: ignore[attr-defined]
    assert kept == [3, 4, 5, 1]  # the feasible front, then the least violation
    assert rank.tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"referenceDivisions": 0}, "referenceDivisions"),
        ({"referenceDivisions": 101}, "referenceDivisions"),
        ({"populationSize": 1}, "populationSize"),
        ({"crowding": True}, "crowding"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, float], field: str) -> None:
    with pytest.raises(SettingsError, match=f"spec.algorithm.settings.{field}"):
        parse_settings("nsga3", settings)


def dtlz2(params: Mapping[str, Value]) -> dict[str, float]:
    x = np.array([float(params[f"x{i}"]) for i in range(6)])  # type: ignore[arg-type]
    radius = 1 + float(((x[2:] - 0.5) ** 2).sum())
    a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
    return {
        "f0": radius * math.cos(a) * math.cos(b),
        "f1": radius * math.cos(a) * math.sin(b),
        "f2": radius * math.sin(a),
    }


def dtlz2_hypervolume(algorithm: str, seed: int, trials: int = 200) -> float:
    space = float_space(6)
    suggester = create(algorithm, space, {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        for s in suggester.suggest(History(tuple(records), THREE), 4):  # 4 parallel slots
            records.append(
                TrialRecord(len(records), s.params, TrialState.COMPLETE, dtlz2(s.params))
            )
    history = History(tuple(records), THREE)
    losses = np.array([history.losses(r) for r in records])
    return hypervolume(losses, [1.5, 1.5, 1.5])


@pytest.mark.slow
def test_dtlz2_hypervolume_beats_random_search() -> None:
    seeds = range(5)
    ours = [dtlz2_hypervolume("nsga3", s) for s in seeds]
    baseline = [dtlz2_hypervolume("random", s) for s in seeds]
    # Under "no better than random" the ten runs are exchangeable: the chance that all five
    # of ours beat all five of random search's is 1 / C(10, 5) = 1/252.
    assert min(ours) > max(baseline), (ours, baseline)
