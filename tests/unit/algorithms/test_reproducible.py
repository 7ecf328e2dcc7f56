"""Same seed, same parameters per trial index, whatever the parallelism and completion order.

A study runs through ``Planner.decide`` as a backend drives it: launch what it says, finish
running trials in some order, ask again. The random stream used to be keyed on the history's
length, which depends on how many trials happened to be created when a slot freed up; keyed
on the trial index, random, sobol and grid give trial ``i`` the same parameters at any
parallelism.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kubetune.algorithms import REGISTRY, History, TrialRecord, TrialState, next_index
from kubetune.api.study import Direction, Objective, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner, TrialSnapshot
from kubetune.space import SearchSpace, Value

TRIALS = 16

PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 4},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "step": 0.3,
     "when": {"optimizer": ["sgd"]}},
]  # fmt: skip
GRID_PARAMETERS: list[dict[str, Any]] = [
    {"name": "layers", "type": "int", "low": 1, "high": 4},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "width", "type": "categorical", "choices": [64, 128, 256]},
]

INITIAL = [
    {"lr": 0.01, "layers": 2, "optimizer": "adam"},
    {"lr": 0.1, "layers": 1, "optimizer": "sgd", "momentum": 0.3},
]
GRID_INITIAL = [{"layers": 2, "optimizer": "sgd", "width": 128}]


def study(algorithm: str, parallel: int) -> StudySpec:
    return StudySpec.model_validate(
        {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": GRID_PARAMETERS if algorithm == "grid" else PARAMETERS,
            # Manual trials first: suggestions must be numbered after them at any parallelism.
            "initialTrials": GRID_INITIAL if algorithm == "grid" else INITIAL,
            "algorithm": {"name": algorithm},
            "budget": {"maxTrials": TRIALS, "parallelTrials": parallel},
            "seed": 11,
            "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        }
    )


def run(algorithm: str, parallel: int, finish_order_seed: int) -> dict[int, dict[str, Value]]:
    """Drive a study to the end; running trials finish in a seeded random order."""
    planner = Planner(study(algorithm, parallel), "repro")
    trials: dict[int, TrialSnapshot] = {}
    order = np.random.default_rng(finish_order_seed)
    while True:
        decision = planner.decide(list(trials.values()))
        for new in decision.launch:
            trials[new.index] = TrialSnapshot(new.index, new.params, TrialPhase.RUNNING)
        if decision.ending is not None:
            return {i: dict(t.params) for i, t in sorted(trials.items())}
        running = [t for t in trials.values() if t.phase is TrialPhase.RUNNING]
        # Finish one or more trials, not necessarily the oldest first.
        for done in order.permutation(len(running))[: order.integers(1, len(running) + 1)]:
            t = running[done]
            trials[t.index] = TrialSnapshot(
                t.index, t.params, TrialPhase.SUCCEEDED, {"loss": float(order.random())}
            )


@pytest.mark.parametrize("algorithm", ["random", "sobol", "grid"])
def test_each_trial_index_gets_the_same_parameters_at_any_parallelism(algorithm: str) -> None:
    sequential = run(algorithm, parallel=1, finish_order_seed=0)
    assert len(sequential) == TRIALS
    for parallel, finish_order_seed in [(4, 1), (4, 2), (7, 3), (TRIALS, 4)]:
        assert run(algorithm, parallel, finish_order_seed) == sequential, (parallel, algorithm)


@pytest.mark.parametrize("algorithm", ["random", "sobol", "grid"])
def test_parameter_sets_never_repeat(algorithm: str) -> None:
    params = run(algorithm, parallel=4, finish_order_seed=5)
    space = SearchSpace.from_specs(study(algorithm, 1).parameters)
    assert len({space.canonical(p) for p in params.values()}) == len(params)


LOSS = (Objective(metric="loss", direction=Direction.MINIMIZE),)


def history_of(indices: list[int]) -> History:
    return History(tuple(TrialRecord(i, {"x": i / 100}, TrialState.RUNNING) for i in indices), LOSS)


def test_the_next_index_is_the_largest_index_plus_one() -> None:
    assert next_index(history_of([])) == 0
    assert next_index(history_of([0, 1, 2])) == 3
    assert next_index(history_of([0, 7])) == 8


@pytest.mark.parametrize("algorithm", [n for n in REGISTRY if n not in ("grid",)])
def test_randomness_is_keyed_on_the_trial_index_not_the_history_length(algorithm: str) -> None:
    space = SearchSpace.from_specs(study("random", 1).parameters[:1])
    settings = (
        {"minResource": 1, "maxResource": 9}
        if REGISTRY[algorithm].capabilities.needs_resource
        else {}
    )
    suggester = REGISTRY[algorithm].create(space, settings, 5)
    sparse, dense = history_of([0, 7]), history_of(list(range(8)))
    assert suggester.rng(sparse).random() == suggester.rng(dense).random()
    assert suggester.rng(sparse).random() != suggester.rng(history_of([0, 8])).random()
