"""tpe: the suggester contract, conditional spaces, constant liar, settings and quality."""

from __future__ import annotations

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
    random_history,
    shifted_sphere,
    spaces,
)

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._tpe import _bandwidths, _recency_weights
from kubetune.api.study import ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.space import SearchSpace


@settings(max_examples=40, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 40),
    running=st.integers(0, 4),
    n=st.integers(1, 4),
)
def test_suggestions_are_valid_fresh_and_deterministic(
    space: SearchSpace, seed: int, completed: int, running: int, n: int
) -> None:
    check_contract("tpe", space, seed, completed, running, n)


@pytest.mark.quality
def test_beats_random_search_on_a_bowl() -> None:
    check_beats_random("tpe", float_space(3), shifted_sphere, trials=60)


@pytest.mark.quality
def test_beats_random_search_on_a_mixed_space() -> None:
    check_beats_random("tpe", mixed_space(), mixed_objective, trials=80)


@pytest.mark.quality
def test_learns_which_branch_of_a_conditional_space_is_better() -> None:
    specs = [
        {"name": "model", "type": "categorical", "choices": ["linear", "tree"]},
        {"name": "alpha", "type": "float", "low": 0, "high": 1, "when": {"model": ["linear"]}},
        {"name": "depth", "type": "int", "low": 1, "high": 200, "when": {"model": ["tree"]}},
    ]
    space = SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])

    def loss(params: dict[str, object]) -> float:
        if params["model"] == "linear":
            return 1.0 + abs(float(params["alpha"]) - 0.5)  # type: ignore[arg-type]
        return abs(int(params["depth"]) - 70) / 200  # type: ignore[call-overload]

    suggester = create("tpe", space, {}, 0)
    records: list[TrialRecord] = []
    for _ in range(40):
        (s,) = suggester.suggest(History(tuple(records), LOSS), 1)
        assert space.errors(s.params) == []
        records.append(
            TrialRecord(len(records), s.params, TrialState.COMPLETE, {"loss": loss(s.params)})
        )
    late = [r.params["model"] for r in records[20:]]
    assert late.count("tree") >= 15
    assert min(loss(r.params) for r in records) < 0.05


def test_running_trials_push_the_batch_elsewhere() -> None:
    space = float_space(2)
    history = random_history(space, seed=4, completed=30, running=0)
    alone = create("tpe", space, {}, 0).suggest(history, 8)
    points = np.array([space.encode(s.params) for s in alone])
    spread = np.linalg.norm(points - points.mean(0), axis=1).mean()
    honest = create("tpe", space, {"constantLiar": False}, 0).suggest(history, 8)
    honest_points = np.array([space.encode(s.params) for s in honest])
    honest_spread = np.linalg.norm(honest_points - honest_points.mean(0), axis=1).mean()
    assert spread > honest_spread


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"gamma": 1.5}, "gamma"),
        ({"nStartupTrials": 0}, "nStartupTrials"),
        ({"nEiCandidates": 0}, "nEiCandidates"),
        ({"priorWeight": -1}, "priorWeight"),
        ({"bandwidth": 0.1}, "bandwidth"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError, match=field):
        parse_settings("tpe", settings)


def test_older_bad_trials_weigh_less_like_optunas_default() -> None:
    # Trials listed by loss, not by age: weights must follow each trial's own age.
    indices = np.array([29, 3, 0, 17, *range(4, 17), *range(18, 29), 1, 2])
    weights = _recency_weights(indices)
    by_age = weights[np.argsort(indices)]
    assert np.all(np.diff(by_age) >= 0) and by_age[-25:].min() == 1.0
    assert weights[2] == by_age[0] == 1.0 / len(indices)  # trial 0 is the oldest


def test_kernel_widths_follow_optunas_neighbour_gaps() -> None:
    # Inner trials take their larger gap to a neighbour, the outermost look inward only, a
    # lone trial (nan: inactive elsewhere) takes its larger gap to the bounds; floor clips.
    assert _bandwidths(np.array([0.1, 0.4, 0.5, 0.9]), 0.01) == pytest.approx([0.3, 0.3, 0.4, 0.4])
    assert _bandwidths(np.array([np.nan, 0.2, np.nan]), 0.01)[1] == pytest.approx(0.8)
    assert _bandwidths(np.array([0.5, 0.5]), 0.25) == pytest.approx([0.25, 0.25])
