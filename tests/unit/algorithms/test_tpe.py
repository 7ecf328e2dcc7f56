"""tpe: the suggester contract, conditional spaces, constant liar, settings and quality."""

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
    random_history,
    shifted_sphere,
    spaces,
)

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._tpe import _bandwidths, _recency_weights
from kubetune.api.study import Constraint, Direction, Objective, ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.hypervolume import hypervolume
from kubetune.space import SearchSpace, Value


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


# --- several objectives and constraints ---------------------------------------------------------

TWO = (
    Objective(metric="f1", direction=Direction.MINIMIZE),
    Objective(metric="f2", direction=Direction.MAXIMIZE),
)
LIMIT = (Constraint(metric="cost", max=0.5),)


def two_objective_history(space: SearchSpace, seed: int, completed: int, running: int) -> History:
    """Random trials with two objectives and a cost constraint the trial sometimes never
    reports; a few failed, a few running."""
    rng = np.random.default_rng(seed)
    records: list[TrialRecord] = []
    for params in space.sample(rng, completed + running):
        if len(records) >= completed:
            records.append(TrialRecord(len(records), params, TrialState.RUNNING))
            continue
        if rng.random() < 0.1:
            records.append(TrialRecord(len(records), params, TrialState.FAILED))
            continue
        values = {"f1": float(rng.random()), "f2": float(rng.standard_normal())}
        if rng.random() < 0.8:
            values["cost"] = float(rng.random())
        records.append(TrialRecord(len(records), params, TrialState.COMPLETE, values))
    return History(tuple(records), TWO, LIMIT)


@settings(max_examples=30, deadline=None)
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    completed=st.integers(0, 40),
    running=st.integers(0, 4),
    n=st.integers(1, 4),
    multivariate=st.sampled_from([None, True]),
)
def test_several_objectives_and_constraints_keep_the_contract(
    space: SearchSpace, seed: int, completed: int, running: int, n: int, multivariate: bool | None
) -> None:
    history = two_objective_history(space, seed, completed, running)
    options = {} if multivariate is None else {"multivariate": multivariate}
    suggestions = create("tpe", space, options, seed).suggest(history, n)
    finite = all(p.levels is not None for p in space.parameters)
    capacity = len(list(space.grid())) if finite and space.grid_size() <= 10_000 else None
    left = n if capacity is None else min(n, capacity - len(history.taken(space)))
    assert len(suggestions) == left
    keys = [space.canonical(s.params) for s in suggestions]
    assert len(set(keys)) == len(keys), "two suggestions of one batch coincide"
    assert not set(keys) & history.taken(space), "a suggestion repeats a taken parameter set"
    assert all(space.errors(s.params) == [] for s in suggestions)
    again = create("tpe", space, options, seed).suggest(history, n)
    assert [s.params for s in again] == [s.params for s in suggestions]


def zdt1(params: Mapping[str, Value]) -> dict[str, float]:
    """ZDT1 (convex front f2 = 1 - sqrt(f1) where x1.. are 0) with as many parameters."""
    x = [float(params[f"x{i}"]) for i in range(len(params))]
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    return {"f1": x[0], "f2": -g * (1 - math.sqrt(x[0] / g))}  # f2 is maximized: negate


def run(
    algorithm: str,
    evaluate: Callable[[Mapping[str, Value]], dict[str, float]],
    history_of: Callable[[tuple[TrialRecord, ...]], History],
    trials: int,
    seed: int,
) -> list[TrialRecord]:
    space = float_space(4)
    suggester = create(algorithm, space, {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        (s,) = suggester.suggest(history_of(tuple(records)), 1)
        records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, evaluate(s.params)))
    return records


def zdt1_hypervolume(algorithm: str, seed: int) -> float:
    records = run(algorithm, zdt1, lambda r: History(r, TWO), 80, seed)
    losses = np.array([[r.values["f1"], -r.values["f2"]] for r in records])
    return hypervolume(losses, [1.1, 11.0])


@pytest.mark.quality
def test_several_objectives_beat_random_search_on_zdt1() -> None:
    # Under "no better than random" each seed is a coin flip: five wins have chance 1/32.
    ours = [zdt1_hypervolume("tpe", seed) for seed in range(5)]
    baseline = [zdt1_hypervolume("random", seed) for seed in range(5)]
    assert all(a > b for a, b in zip(ours, baseline, strict=True)), (ours, baseline)


def cheap_and_far(params: Mapping[str, Value]) -> dict[str, float]:
    """Loss falls towards (1, 1, ...) but only the corner near 0 is cheap enough."""
    x = np.array([float(v) for v in params.values()])
    return {"f1": float(np.sum((x - 1) ** 2)), "f2": 0.0, "cost": float(np.sum(x))}


@pytest.mark.quality
def test_constraints_lead_to_more_feasible_trials_than_random_search() -> None:
    def feasible(algorithm: str, seed: int) -> int:
        history_of = lambda r: History(r, TWO[:1], LIMIT)  # noqa: E731
        records = run(algorithm, cheap_and_far, history_of, 60, seed)
        return sum(r.values["cost"] <= LIMIT[0].max for r in records)  # type: ignore[operator]

    ours = [feasible("tpe", seed) for seed in range(5)]
    baseline = [feasible("random", seed) for seed in range(5)]
    assert all(a > b for a, b in zip(ours, baseline, strict=True)), (ours, baseline)
    assert sum(ours) >= 3 * sum(baseline), (ours, baseline)


def test_a_trial_that_never_reports_a_constraint_metric_counts_as_infeasible() -> None:
    space = float_space(1)
    records = [
        TrialRecord(i, {"x0": x}, TrialState.COMPLETE, {"f1": x, "cost": 0.1})
        for i, x in enumerate([0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    ]
    # The lowest loss by far, but its cost is unknown: it must not be a good trial.
    unknown = TrialRecord(6, {"x0": 0.01}, TrialState.COMPLETE, {"f1": 0.01})
    history = History((*records, unknown), TWO[:1], LIMIT)
    tpe = create("tpe", space, {"nStartupTrials": 1, "gamma": 0.15}, 0)
    picks = [float(s.params["x0"]) for s in tpe.suggest(history, 8)]  # type: ignore[arg-type]
    assert np.median(picks) > 0.3, picks
