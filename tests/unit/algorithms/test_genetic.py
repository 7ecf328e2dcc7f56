"""genetic: the suggester contract on mixed and conditional spaces, restart safety and
asynchrony, the breeding pool and its ranking of pruned and failed trials, settings, and
quality against random search."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import (
    LOSS,
    check_beats_random,
    check_contract,
    float_space,
    mixed_objective,
    mixed_space,
    rastrigin_like,
    shifted_sphere,
    spaces,
)

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._genetic import Genetic, _ranked
from kubetune.api.study import ParameterSpec
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.space import SearchSpace, Value

SMALL = {"populationSize": 4}  # so short histories already breed children


@settings(max_examples=60, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 40),
    running=st.integers(0, 6),
    n=st.integers(1, 5),
    crossover=st.sampled_from(["blend", "sbx"]),
)
def test_suggestions_are_in_the_space_fresh_and_deterministic(
    space: SearchSpace, seed: int, completed: int, running: int, n: int, crossover: str
) -> None:
    """In the space, never a running or finished parameter set nor one twice in a batch, and
    the same again for a new suggester (an operator restart) on the same history."""
    check_contract("genetic", space, seed, completed, running, n, {**SMALL, "crossover": crossover})


def early_stopped_history(space: SearchSpace, seed: int, finished: int, running: int) -> History:
    """Trials that completed, failed, were pruned after reporting, or pruned before; then
    running ones: a history as a study with early stopping has it."""
    rng = np.random.default_rng(seed)
    records: list[TrialRecord] = []
    states = [TrialState.COMPLETE] * 5 + [TrialState.PRUNED] * 4 + [TrialState.FAILED]
    for i, params in enumerate(space.sample(rng, finished + running)):
        state = states[int(rng.integers(len(states)))] if i < finished else TrialState.RUNNING
        steps = int(rng.integers(0, 4)) if state is not TrialState.FAILED else 0
        curve = tuple(
            IntermediateValue(step, {"loss": float(rng.standard_normal())})
            for step in range(1, steps + 1)
        )
        values = {"loss": float(rng.standard_normal())} if state is TrialState.COMPLETE else {}
        records.append(TrialRecord(i, params, state, values, curve))
    return History(tuple(records), LOSS)


@settings(max_examples=40, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    finished=st.integers(0, 30),
    running=st.integers(0, 6),
    n=st.integers(1, 4),
)
def test_works_with_early_stopping(
    space: SearchSpace, seed: int, finished: int, running: int, n: int
) -> None:
    """Pruned trials with and without intermediate values: still valid, fresh, repeatable."""
    history = early_stopped_history(space, seed, finished, running)
    suggestions = create("genetic", space, SMALL, seed).suggest(history, n)
    keys = [space.canonical(s.params) for s in suggestions]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & history.taken(space)
    assert all(space.errors(s.params) == [] for s in suggestions)
    again = create("genetic", space, SMALL, seed).suggest(history, n)
    assert [s.params for s in again] == [s.params for s in suggestions]


def _finish(record: TrialRecord, loss: float) -> TrialRecord:
    return TrialRecord(record.index, record.params, TrialState.COMPLETE, {"loss": loss})


def test_a_long_running_suggester_agrees_with_a_restarted_one() -> None:
    """Trials finishing out of order, suggestions asked one or three at a time: a suggester
    kept across calls and a new one built for each call suggest the same."""
    space = mixed_space()
    kept = create("genetic", space, SMALL, 11)
    rng = np.random.default_rng(11)
    records: list[TrialRecord] = []
    for step in range(40):
        history = History(tuple(records), LOSS)
        n = 1 + step % 3
        suggested = kept.suggest(history, n)
        restarted = create("genetic", space, SMALL, 11).suggest(history, n)
        assert [s.params for s in suggested] == [s.params for s in restarted]
        records += [
            TrialRecord(len(records) + i, s.params, TrialState.RUNNING)
            for i, s in enumerate(suggested)
        ]
        for _ in range(n):
            running = [r for r in records if r.state is TrialState.RUNNING]
            done = running[int(rng.integers(len(running)))]
            records[done.index] = _finish(done, mixed_objective(done.params))


def test_suggests_while_the_previous_generation_is_still_running() -> None:
    """Asynchronous: with two of generation 0's ten trials finished, generation 1 is bred from
    them at once instead of waiting."""
    space = float_space(3)
    sobol = create("sobol", space, {}, 1).suggest(History((), LOSS), 10)
    records = [TrialRecord(i, s.params, TrialState.RUNNING) for i, s in enumerate(sobol)]
    records[:2] = [_finish(r, float(i)) for i, r in enumerate(records[:2])]
    history = History(tuple(records), LOSS)
    suggestions = create("genetic", space, {"populationSize": 10}, 0).suggest(history, 6)
    assert len(suggestions) == 6
    # Bred from the two finished parents: blend crossover stays within half the parents'
    # distance of their interval, and mutation moves about one coordinate in three.
    parents = np.array([[r.params[n] for n in space.names] for r in records[:2]])
    children = np.array([[s.params[n] for n in space.names] for s in suggestions])
    low, high = parents.min(axis=0), parents.max(axis=0)
    margin = 0.5 * (high - low) + 1e-9
    inside = (children >= low - margin) & (children <= high + margin)
    assert inside.mean() > 0.6


def test_first_generation_is_a_sobol_sample() -> None:
    space = float_space(2)
    empty = History((), LOSS)
    ours = create("genetic", space, {"populationSize": 8}, 3).suggest(empty, 8)
    sobol = create("sobol", space, {}, 3).suggest(empty, 8)
    assert [s.params for s in ours] == [s.params for s in sobol]


def _record(
    index: int, state: TrialState, loss: float | None = None, last: float | None = None
) -> TrialRecord:
    values = {} if loss is None else {"loss": loss}
    intermediate = (
        ()
        if last is None
        else (IntermediateValue(1, {"loss": last + 5}), IntermediateValue(2, {"loss": last}))
    )
    return TrialRecord(index, {"x0": index / 10}, state, values, intermediate)


def test_pruned_trials_rank_by_their_last_loss_behind_completed_ones_and_failed_ones_last() -> None:
    records = (
        _record(0, TrialState.FAILED),
        _record(1, TrialState.PRUNED, last=0.5),
        _record(2, TrialState.COMPLETE, loss=9.0),
        _record(3, TrialState.PRUNED),  # pruned before reporting anything
        _record(4, TrialState.PRUNED, last=-1.0),
        _record(5, TrialState.COMPLETE, loss=3.0),
        _record(6, TrialState.RUNNING),
    )
    # Completed by loss, pruned by the loss at their last step (not the best step), then the
    # trials without any loss in index order; running ones are not ranked.
    assert _ranked(History(records, LOSS)) == [5, 2, 4, 1, 0, 3]


def _generation(start: int, losses: list[float]) -> list[TrialRecord]:
    return [_finish(_record(start + i, TrialState.RUNNING), loss) for i, loss in enumerate(losses)]


def test_the_pool_is_the_previous_generation_plus_the_elite_of_earlier_ones() -> None:
    genetic = create("genetic", float_space(1), {"populationSize": 4, "elitism": 1}, 0)
    assert isinstance(genetic, Genetic)
    records = _generation(0, [1.0, 5.0, 0.5, 7.0]) + _generation(4, [3.0, 4.0, 6.0, 8.0])
    history = History(tuple(records), LOSS)
    pool = genetic._pool(history, _ranked(history), generation=2)
    # Trial 2 is the best of generation 0 (the elite); trials 4-7 are the last generation.
    assert pool == [2, 4, 5, 6, 7]


def test_a_short_pool_is_topped_up_with_the_best_earlier_trials() -> None:
    genetic = create("genetic", float_space(1), {"populationSize": 4, "elitism": 0}, 0)
    assert isinstance(genetic, Genetic)
    records = [
        *_generation(0, [1.0, 5.0, 0.5, 7.0]),
        _finish(_record(4, TrialState.RUNNING), 3.0),
        _record(5, TrialState.FAILED),
        _record(6, TrialState.RUNNING),
        _record(7, TrialState.RUNNING),
    ]
    history = History(tuple(records), LOSS)
    pool = genetic._pool(history, _ranked(history), generation=2)
    # Generation 1 has two finished trials (one failed); the two best of generation 0 join.
    assert pool == [2, 0, 4, 5]


def test_conditional_parameters_follow_their_parents() -> None:
    specs = [
        {"name": "model", "type": "categorical", "choices": ["linear", "tree"]},
        {"name": "depth", "type": "int", "low": 1, "high": 12, "when": {"model": ["tree"]}},
        {"name": "alpha", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    ]
    space = SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])

    def loss(params: Mapping[str, Value]) -> float:
        depth = float(params["depth"]) if params["model"] == "tree" else 20.0
        return abs(depth - 7) + abs(math.log10(float(params["alpha"])) + 3)

    suggester = create("genetic", space, SMALL, 5)
    records: list[TrialRecord] = []
    for _ in range(60):
        (s,) = suggester.suggest(History(tuple(records), LOSS), 1)
        assert space.errors(s.params) == []
        assert ("depth" in s.params) == (s.params["model"] == "tree")
        records.append(
            _finish(TrialRecord(len(records), s.params, TrialState.RUNNING), loss(s.params))
        )
    assert min(float(r.values["loss"]) for r in records) < 1.0


def test_a_small_discrete_space_is_searched_without_repeats_then_exhausted() -> None:
    specs = [
        {"name": "k", "type": "int", "low": 1, "high": 4},
        {"name": "c", "type": "categorical", "choices": ["a", "b"]},
    ]
    space = SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])
    suggester = create("genetic", space, {"populationSize": 2}, 0)
    records: list[TrialRecord] = []
    while picked := suggester.suggest(History(tuple(records), LOSS), 1):
        p = picked[0].params
        loss = float(p["k"]) + float(p["c"] == "a")
        records.append(TrialRecord(len(records), p, TrialState.COMPLETE, {"loss": loss}))
    assert len(records) == 8  # every combination once, then nothing left


@pytest.mark.parametrize(
    ("given_settings", "field"),
    [
        ({"populationSize": 1}, "populationSize"),
        ({"tournamentSize": 0}, "tournamentSize"),
        ({"populationSize": 4, "tournamentSize": 5}, "tournamentSize"),
        ({"populationSize": 4, "elitism": 5}, "elitism"),
        ({"elitism": -1}, "elitism"),
        ({"crossover": "onepoint"}, "crossover"),
        ({"crossoverProbability": 1.5}, "crossoverProbability"),
        ({"mutationRate": 0}, "mutationRate"),
        ({"blendAlpha": -0.1}, "blendAlpha"),
        ({"mutationProbability": 0.1}, "mutationProbability"),
    ],
)
def test_bad_settings_name_the_field(given_settings: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=f"spec.algorithm.settings.{field}"):
        parse_settings("genetic", given_settings)


def test_a_tournament_larger_than_the_population_says_how_large_it_may_be() -> None:
    with pytest.raises(SettingsError, match=r"at most populationSize \(4\), got 5"):
        parse_settings("genetic", {"populationSize": 4, "tournamentSize": 5})


@pytest.mark.quality
@pytest.mark.parametrize(
    ("space", "objective", "trials"),
    [
        (float_space(4), shifted_sphere, 150),
        (float_space(3), rastrigin_like, 150),
        (mixed_space(), mixed_objective, 80),
    ],
    ids=["sphere", "rastrigin", "mixed"],
)
def test_beats_random_search(
    space: SearchSpace, objective: Callable[[Mapping[str, Value]], float], trials: int
) -> None:
    """Every one of five seeds beats random search's (chance 1/32 each problem if it were no
    better) with half its median best or less, with three parallel slots (asynchronous)."""
    check_beats_random("genetic", space, objective, trials, batch=3)
