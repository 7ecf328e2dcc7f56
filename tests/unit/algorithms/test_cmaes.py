"""cmaes: the suggester contract, replay from history, integers, fallbacks, quality."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from model_based_checks import (
    LOSS,
    best_after,
    check_beats_random,
    check_contract,
    float_space,
    random_history,
    shifted_sphere,
    spaces,
)

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.api.study import ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.space import SearchSpace, Value


@settings(max_examples=40, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 60),
    running=st.integers(0, 4),
    n=st.integers(1, 4),
)
def test_suggestions_are_valid_fresh_and_deterministic(
    space: SearchSpace, seed: int, completed: int, running: int, n: int
) -> None:
    check_contract("cmaes", space, seed, completed, running, n)


@pytest.mark.quality
def test_beats_random_search_on_a_bowl() -> None:
    check_beats_random("cmaes", float_space(4), shifted_sphere, trials=120)


@pytest.mark.quality
def test_beats_random_search_in_batches() -> None:
    check_beats_random("cmaes", float_space(4), shifted_sphere, trials=120, batch=8)


def int_space(dims: int) -> SearchSpace:
    specs = [{"name": f"k{i}", "type": "int", "low": 0, "high": 30} for i in range(dims)]
    return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])


def int_bowl(params: Mapping[str, Value]) -> float:
    return float(sum((int(v) - 11 - i) ** 2 for i, v in enumerate(params.values())))  # type: ignore[call-overload]


@pytest.mark.quality
def test_integers_reach_the_optimum_with_margin() -> None:
    results = [best_after("cmaes", int_space(3), int_bowl, 150, seed) for seed in range(3)]
    assert results == [0.0, 0.0, 0.0]


def test_state_is_rebuilt_from_the_history_alone() -> None:
    # Two suggesters that never saw each other agree on every step of a run.
    space = float_space(3)
    history = random_history(space, seed=5, completed=47, running=2)
    first = create("cmaes", space, {}, 11).suggest(history, 3)
    second = create("cmaes", space, {}, 11).suggest(history, 3)
    assert [s.params for s in first] == [s.params for s in second]


def test_purely_categorical_and_one_dimensional_spaces_work() -> None:
    categorical = SearchSpace.from_specs(
        [ParameterSpec(name="c", type="categorical", choices=["a", "b", "c", "d"])]
    )
    assert len(create("cmaes", categorical, {}, 0).suggest(History((), LOSS), 3)) == 3
    line = float_space(1)
    assert best_after("cmaes", line, shifted_sphere, 40, 0) < 1e-3


def test_restarts_keep_suggesting_after_convergence() -> None:
    space = float_space(2)
    suggester = create("cmaes", space, {"populationSize": 4}, 0)
    records: list[TrialRecord] = []
    for _ in range(400):
        (s,) = suggester.suggest(History(tuple(records), LOSS), 1)
        loss = shifted_sphere(s.params)
        records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, {"loss": loss}))
    assert min(r.values["loss"] for r in records) < 1e-8


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"sigma0": 0}, "sigma0"),
        ({"populationSize": 1}, "populationSize"),
        ({"restartStrategy": "bipop"}, "restartStrategy"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        parse_settings("cmaes", settings)


def test_the_last_free_points_of_a_small_space_are_found() -> None:
    """Found by the contract property test: with 18 of 20 points used, uniform draws could
    all land on used ones and the call returned nothing; a small space is enumerated last."""
    space = SearchSpace.from_specs(
        [
            ParameterSpec(name="p0", type="int", low=0, high=3),
            ParameterSpec(name="p1", type="float", low=0, high=1, step=0.25),
        ]
    )
    check_contract("cmaes", space, seed=1, completed=40, running=4, n=1)
    check_contract("random", space, seed=1, completed=40, running=4, n=2)
