"""Checks every model-based suggester (bayesopt, tpe, cmaes) must pass, shared by their tests.

* contract: on random mixed (and conditional) spaces with random histories of completed,
  running and failed trials, suggestions lie in the space, never repeat a taken parameter
  set or each other, and are the same for the same history and seed;
* quality: on cheap problems the algorithm beats random search on every one of several
  seeds — under the null hypothesis "no better than random" each seed is a coin flip, so
  winning all five has probability 1/32.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from kubetune.algorithms import create
from kubetune.api.study import Direction, Objective, ParameterSpec
from kubetune.history import History, TrialRecord, TrialState
from kubetune.space import SearchSpace, Value

LOSS = (Objective(metric="loss", direction=Direction.MINIMIZE),)


@st.composite
def spaces(draw: st.DrawFn) -> SearchSpace:
    """Mixed spaces: floats (log, stepped), ints (log, stepped), categoricals, conditions."""
    specs: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["float", "logfloat", "stepfloat", "int", "logint", "cat"]))
        name = f"p{i}"
        if kind == "float":
            specs.append({"name": name, "type": "float", "low": -2.0, "high": 3.0})
        elif kind == "logfloat":
            specs.append({"name": name, "type": "float", "low": 1e-4, "high": 1.0, "log": True})
        elif kind == "stepfloat":
            specs.append({"name": name, "type": "float", "low": 0.0, "high": 1.0, "step": 0.25})
        elif kind == "int":
            high = draw(st.sampled_from([3, 40, 1000]))
            specs.append({"name": name, "type": "int", "low": 0, "high": high})
        elif kind == "logint":
            specs.append({"name": name, "type": "int", "low": 1, "high": 512, "log": True})
        else:
            specs.append({"name": name, "type": "categorical", "choices": ["a", "b", "c"]})
    parents = [s["name"] for s in specs if s["type"] == "categorical"]
    if parents and draw(st.booleans()):
        specs.append(
            {"name": "child", "type": "float", "low": 0.0, "high": 1.0, "when": {parents[0]: ["a"]}}
        )
    return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])


def random_history(space: SearchSpace, seed: int, completed: int, running: int) -> History:
    rng = np.random.default_rng(seed)
    records: list[TrialRecord] = []
    for params in space.sample(rng, completed + running):
        if len(records) < completed:
            state = TrialState.FAILED if rng.random() < 0.1 else TrialState.COMPLETE
            loss = float(rng.standard_normal()) * 10 ** float(rng.integers(0, 4))
            values = {"loss": loss} if state is TrialState.COMPLETE else {}
        else:
            state, values = TrialState.RUNNING, {}
        records.append(TrialRecord(len(records), params, state, values))
    return History(tuple(records), LOSS)


def check_contract(
    algorithm: str,
    space: SearchSpace,
    seed: int,
    completed: int,
    running: int,
    n: int,
    settings: Mapping[str, Any] | None = None,
) -> None:
    history = random_history(space, seed, completed, running)
    suggestions = create(algorithm, space, dict(settings or {}), seed).suggest(history, n)
    # Small finite spaces run out of fresh parameter sets: then fewer, but never duplicates.
    finite = all(p.levels is not None for p in space.parameters)
    capacity = len(list(space.grid())) if finite and space.grid_size() <= 10_000 else None
    left = n if capacity is None else min(n, capacity - len(history.taken(space)))
    assert len(suggestions) == left
    keys = [space.canonical(s.params) for s in suggestions]
    assert len(set(keys)) == len(keys), "two suggestions of one batch coincide"
    assert not set(keys) & history.taken(space), "a suggestion repeats a taken parameter set"
    for s in suggestions:
        assert space.errors(s.params) == []
    again = create(algorithm, space, dict(settings or {}), seed).suggest(history, n)
    assert [s.params for s in again] == [s.params for s in suggestions]


def best_after(
    algorithm: str,
    space: SearchSpace,
    objective: Callable[[Mapping[str, Value]], float],
    trials: int,
    seed: int,
    batch: int = 1,
    settings: Mapping[str, Any] | None = None,
) -> float:
    suggester = create(algorithm, space, dict(settings or {}), seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        history = History(tuple(records), LOSS)
        for s in suggester.suggest(history, min(batch, trials - len(records))):
            loss = objective(s.params)
            records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, {"loss": loss}))
    return min(float(r.values["loss"]) for r in records)


def float_space(dims: int, low: float = 0.0, high: float = 1.0) -> SearchSpace:
    specs = [{"name": f"x{i}", "type": "float", "low": low, "high": high} for i in range(dims)]
    return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])


def shifted_sphere(params: Mapping[str, Value]) -> float:
    """A bowl whose minimum (0) is off-centre, so starting in the middle is no shortcut."""
    return sum((float(v) - 0.3 - 0.07 * i) ** 2 for i, v in enumerate(params.values()))


def rastrigin_like(params: Mapping[str, Value]) -> float:
    """A multimodal surface with a global trend, minimum 0 at x = 0.2."""
    return sum(
        (float(v) - 0.2) ** 2 * 10 + 1 - math.cos(8 * math.pi * (float(v) - 0.2))
        for v in params.values()
    )


def mixed_space() -> SearchSpace:
    specs = [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "layers", "type": "int", "low": 1, "high": 20},
        {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu"]},
    ]
    return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])


def mixed_objective(params: Mapping[str, Value]) -> float:
    penalty = {"relu": 0.0, "tanh": 1.0, "gelu": 0.5}[str(params["act"])]
    return (
        (math.log10(float(params["lr"])) + 2.5) ** 2
        + 0.05 * (int(params["layers"]) - 13) ** 2
        + penalty
    )


def check_beats_random(
    algorithm: str,
    space: SearchSpace,
    objective: Callable[[Mapping[str, Value]], float],
    trials: int,
    seeds: int = 5,
    batch: int = 1,
    settings: Mapping[str, Any] | None = None,
) -> None:
    ours = [
        best_after(algorithm, space, objective, trials, s, batch, settings) for s in range(seeds)
    ]
    baseline = [best_after("random", space, objective, trials, s) for s in range(seeds)]
    wins = sum(a < b for a, b in zip(ours, baseline, strict=True))
    assert wins == seeds, f"{algorithm} {ours} vs random {baseline}"
    # And not by a hair: the median best is at most half of random search's.
    assert np.median(ours) <= 0.5 * np.median(baseline), (ours, baseline)
