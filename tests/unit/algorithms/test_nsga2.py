"""nsga2: the suggester contract on mixed spaces and multi-objective histories, asynchrony,
survivor selection, settings, and quality against random search (ZDT1, a bowl). The
contract and restart checks run for nsga3 too (the machinery both share, ``ParetoGenetic``);
nsga3's niching is tested in test_nsga3."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import (
    check_beats_random,
    check_contract,
    float_space,
    shifted_sphere,
    spaces,
)

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._nsga2 import _Archive, _crowding, _select
from kubetune.api.study import Direction, Objective, ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.hypervolume import hypervolume
from kubetune.space import SearchSpace, Value

TWO = (
    Objective(metric="f1", direction=Direction.MINIMIZE),
    Objective(metric="f2", direction=Direction.MAXIMIZE),
)
THREE = tuple(Objective(metric=f"f{k}", direction=Direction.MINIMIZE) for k in range(1, 4))
SMALL = {"populationSize": 4}  # so short histories already breed children
PARETO_GENETIC = ["nsga2", "nsga3"]
"""The algorithms built on ``ParetoGenetic``: the checks of the shared machinery run on both."""


def two_objective_history(
    space: SearchSpace,
    seed: int,
    finished: int,
    running: int,
    objectives: tuple[Objective, ...] = TWO,
) -> History:
    """Completed, failed and pruned trials with (by default) two objectives, then running
    ones."""
    rng = np.random.default_rng(seed)
    records: list[TrialRecord] = []
    for params in space.sample(rng, finished + running):
        if len(records) >= finished:
            state, values = TrialState.RUNNING, {}
        else:
            state = rng.choice([TrialState.COMPLETE] * 8 + [TrialState.FAILED, TrialState.PRUNED])
            values = (
                {o.metric: float(rng.standard_normal()) for o in objectives}
                if state is TrialState.COMPLETE
                else {}
            )
        records.append(TrialRecord(len(records), params, state, values))
    return History(tuple(records), objectives)


@settings(max_examples=40, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 40),
    running=st.integers(0, 6),
    n=st.integers(1, 5),
)
@pytest.mark.parametrize("algorithm", PARETO_GENETIC)
def test_single_objective_suggestions_are_valid_fresh_and_deterministic(
    algorithm: str, space: SearchSpace, seed: int, completed: int, running: int, n: int
) -> None:
    check_contract(algorithm, space, seed, completed, running, n, SMALL)


@settings(max_examples=40, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    finished=st.integers(0, 40),
    running=st.integers(0, 6),
    n=st.integers(1, 5),
)
@pytest.mark.parametrize(
    ("algorithm", "objectives"), [("nsga2", TWO), ("nsga3", TWO), ("nsga3", THREE)]
)
def test_multi_objective_suggestions_are_valid_fresh_and_restart_safe(
    algorithm: str,
    objectives: tuple[Objective, ...],
    space: SearchSpace,
    seed: int,
    finished: int,
    running: int,
    n: int,
) -> None:
    history = two_objective_history(space, seed, finished, running, objectives)
    suggestions = create(algorithm, space, SMALL, seed).suggest(history, n)
    keys = [space.canonical(s.params) for s in suggestions]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & history.taken(space)
    assert all(space.errors(s.params) == [] for s in suggestions)
    # A restarted operator (a new suggester, the same history) suggests the same.
    again = create(algorithm, space, SMALL, seed).suggest(history, n)
    assert [s.params for s in again] == [s.params for s in suggestions]


@pytest.mark.parametrize("algorithm", PARETO_GENETIC)
def test_a_long_running_suggester_agrees_with_a_restarted_one(algorithm: str) -> None:
    """The elite kept between calls is a cache: trials finishing out of order (some of an
    earlier generation only after later ones started) must not make it stale."""
    space = float_space(3)
    warm = create(algorithm, space, SMALL, 7)
    rng = np.random.default_rng(7)
    records: list[TrialRecord] = []
    for _ in range(30):
        history = History(tuple(records), TWO)
        suggested = warm.suggest(history, 2)
        fresh = create(algorithm, space, SMALL, 7).suggest(history, 2)
        assert [s.params for s in suggested] == [s.params for s in fresh]
        records += [
            TrialRecord(len(records) + i, s.params, TrialState.RUNNING)
            for i, s in enumerate(suggested)
        ]
        # Finish a random running trial, so generations complete out of order.
        running = [r for r in records if r.state is TrialState.RUNNING]
        done = running[int(rng.integers(len(running)))]
        values = {"f1": float(rng.random()), "f2": float(rng.random())}
        records[done.index] = TrialRecord(done.index, done.params, TrialState.COMPLETE, values)


def test_suggests_while_the_previous_generation_is_still_running() -> None:
    space = float_space(3)
    history = two_objective_history(space, 0, finished=0, running=0)
    records = list(two_objective_history(space, 1, finished=10, running=0).trials)
    # Generation 0 (10 trials): two finished, eight still running; generation 1 goes ahead.
    records = [
        r if i < 2 else TrialRecord(r.index, r.params, TrialState.RUNNING)
        for i, r in enumerate(records)
    ]
    records[:2] = [
        TrialRecord(i, r.params, TrialState.COMPLETE, {"f1": float(i), "f2": float(i)})
        for i, r in enumerate(records[:2])
    ]
    history = History(tuple(records), TWO)
    suggestions = create("nsga2", space, {"populationSize": 10}, 0).suggest(history, 6)
    assert len(suggestions) == 6
    # Bred from the two finished parents: every child lies near one of them in some
    # coordinate (crossover and mutation move few coordinates far).
    parents = np.array([[r.params[n] for n in space.names] for r in records[:2]])
    children = np.array([[s.params[n] for n in space.names] for s in suggestions])
    nearest = np.abs(children[:, None, :] - parents[None, :, :]).min(axis=(1, 2))
    assert np.all(nearest < 0.05)


def test_first_generation_is_a_sobol_sample() -> None:
    space = float_space(2)
    empty = History((), TWO)
    ours = create("nsga2", space, {"populationSize": 8}, 3).suggest(empty, 8)
    sobol = create("sobol", space, {}, 3).suggest(empty, 8)
    assert [s.params for s in ours] == [s.params for s in sobol]


def test_failed_and_pruned_trials_rank_behind_every_completed_one() -> None:
    nan = [np.nan, np.nan]  # failed or pruned: no losses
    losses = np.array([nan, [100.0, 100.0], nan, [101.0, 101.0]])
    kept, rank, _ = _select(losses, size=3)
    assert kept[:2] == [1, 3]  # the completed trials, however bad their values
    assert rank.tolist() == [0, 1, 2]  # trial 1 dominates trial 3; a failed one fills up
    assert kept[2] in (0, 2)


def test_losses_of_failed_pruned_and_maximized_objectives() -> None:
    records = (
        TrialRecord(0, {}, TrialState.COMPLETE, {"f1": 1.0, "f2": 2.0}),
        TrialRecord(1, {}, TrialState.FAILED),
        TrialRecord(2, {}, TrialState.PRUNED, {"f1": 1.0, "f2": 2.0}),
    )
    entries = _Archive(Geometry.of(float_space(1))).read(History(records, TWO))
    assert entries[0].losses == (1.0, -2.0)  # f2 is maximized
    assert [e.losses for e in entries[1:]] == [None, None]


@pytest.mark.parametrize("algorithm", PARETO_GENETIC)
def test_a_trial_whose_record_changes_is_read_again(algorithm: str) -> None:
    """Entries are kept between calls by trial index: a record rebuilt with other values (or
    another state) must be read again, so the suggester still agrees with a restarted one."""
    space = float_space(3)
    history = two_objective_history(space, 3, finished=12, running=0)
    warm = create(algorithm, space, SMALL, 3)
    warm.suggest(history, 2)
    changed = tuple(
        TrialRecord(r.index, r.params, TrialState.COMPLETE, {"f1": -float(r.index), "f2": 0.0})
        for r in history.trials
    )
    again = History(changed, TWO)
    fresh = create(algorithm, space, SMALL, 3).suggest(again, 2)
    assert [s.params for s in warm.suggest(again, 2)] == [s.params for s in fresh]


def test_survivors_keep_the_spread_out_members_of_the_last_front() -> None:
    front = [(0.0, 1.0), (0.1, 0.9), (0.2, 0.8), (0.6, 0.4), (1.0, 0.0)]
    kept, _, _ = _select(np.array(front), size=3)
    # The two extremes (infinite crowding) and the point whose neighbours are farthest apart.
    assert sorted(kept) == [0, 3, 4]


def test_crowding_distance_of_a_front() -> None:
    distance = _crowding(np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0]]))
    assert np.isinf(distance[[0, 3]]).all()
    # (3 - 0) / 4 + (4 - 1) / 4 and (4 - 1) / 4 + (2 - 0) / 4
    assert distance[1:3].tolist() == pytest.approx([1.5, 1.25])


def test_discrete_spaces_are_searched_without_repeats() -> None:
    specs = [
        {"name": "k", "type": "int", "low": 1, "high": 4},
        {"name": "c", "type": "categorical", "choices": ["a", "b"]},
    ]
    space = SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])
    suggester = create("nsga2", space, {"populationSize": 2}, 0)
    records: list[TrialRecord] = []
    while True:
        history = History(tuple(records), TWO)
        picked = suggester.suggest(history, 1)
        if not picked:
            break
        p = picked[0].params
        f = {"f1": float(p["k"]), "f2": float(p["c"] == "a")}  # type: ignore[arg-type]
        records.append(TrialRecord(len(records), p, TrialState.COMPLETE, f))
    assert len(records) == 8  # every combination once, then nothing left


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"populationSize": 1}, "populationSize"),
        ({"mutationProbability": 0}, "mutationProbability"),
        ({"crossoverProbability": 1.5}, "crossoverProbability"),
        ({"swapProbability": 0.5}, "swapProbability"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, float], field: str) -> None:
    with pytest.raises(SettingsError, match=f"spec.algorithm.settings.{field}"):
        parse_settings("nsga2", settings)


def test_single_objective_it_is_a_genetic_algorithm_that_beats_random_search() -> None:
    check_beats_random("nsga2", float_space(4), shifted_sphere, trials=150, settings=SMALL)


def zdt1(params: Mapping[str, Value]) -> dict[str, float]:
    x = np.array([float(params[f"x{i}"]) for i in range(6)])  # type: ignore[arg-type]
    g = 1 + 9 * x[1:].mean()
    # f2 is reported as a score to maximize (its negation), so directions are exercised.
    return {"f1": float(x[0]), "f2": -float(g * (1 - np.sqrt(x[0] / g)))}


def zdt1_hypervolume(algorithm: str, seed: int, trials: int = 200) -> float:
    space = float_space(6)
    suggester = create(algorithm, space, {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        for s in suggester.suggest(History(tuple(records), TWO), 4):  # 4 parallel slots
            records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, zdt1(s.params)))
    history = History(tuple(records), TWO)
    losses = np.array([history.losses(r) for r in records])
    return hypervolume(losses, [11.0, 11.0])


@pytest.mark.slow
def test_zdt1_hypervolume_beats_random_search() -> None:
    seeds = range(5)
    ours = [zdt1_hypervolume("nsga2", s) for s in seeds]
    baseline = [zdt1_hypervolume("random", s) for s in seeds]
    # Under "no better than random" the ten runs are exchangeable: the chance that all five
    # of ours beat all five of random search's is 1 / C(10, 5) = 1/252.
    assert min(ours) > max(baseline), (ours, baseline)
