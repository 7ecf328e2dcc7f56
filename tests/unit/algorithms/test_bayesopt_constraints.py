"""bayesopt with several objectives (log-EHVI) and constraints (probability of feasibility):
the suggester contract, what the models read, and quality against random search."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_based_checks import LOSS, float_space, spaces

from kubetune.algorithms import create
from kubetune.algorithms._bayesopt import _observe
from kubetune.algorithms._geometry import Geometry
from kubetune.api.study import Constraint, Direction, Objective
from kubetune.history import History, TrialRecord, TrialState
from kubetune.hypervolume import hypervolume
from kubetune.space import SearchSpace, Value

THREE = (
    Objective(metric="f1", direction=Direction.MINIMIZE),
    Objective(metric="f2", direction=Direction.MAXIMIZE),
    Objective(metric="f3", direction=Direction.MINIMIZE),
)
LIMITS = (Constraint(metric="c1", max=0.5), Constraint(metric="c2", min=-0.5))


def constrained_history(
    space: SearchSpace, seed: int, objectives: int, finished: int, running: int
) -> History:
    """Completed trials (some without a constraint metric), failed ones, then running ones."""
    rng = np.random.default_rng(seed)
    records: list[TrialRecord] = []
    for params in space.sample(rng, finished + running):
        state, values = TrialState.RUNNING, {}
        if len(records) < finished:
            state = TrialState.FAILED if rng.random() < 0.1 else TrialState.COMPLETE
        if state is TrialState.COMPLETE:
            values = {o.metric: float(rng.standard_normal()) for o in THREE[:objectives]}
            values |= {c.metric: float(rng.standard_normal()) for c in LIMITS}
            if rng.random() < 0.2:
                del values["c2"]  # never reported: infeasible
        records.append(TrialRecord(len(records), params, state, values))
    return History(tuple(records), THREE[:objectives], LIMITS)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    space=spaces(),
    seed=st.integers(0, 2**16),
    objectives=st.integers(1, 3),
    completed=st.integers(0, 20),
    running=st.integers(0, 3),
    n=st.integers(1, 3),
)
def test_suggestions_are_valid_fresh_and_deterministic(
    space: SearchSpace, seed: int, objectives: int, completed: int, running: int, n: int
) -> None:
    history = constrained_history(space, seed, objectives, completed, running)
    suggestions = create("bayesopt", space, {"nInitialTrials": 3}, seed).suggest(history, n)
    finite = all(p.levels is not None for p in space.parameters)
    capacity = len(list(space.grid())) if finite and space.grid_size() <= 10_000 else None
    assert len(suggestions) == (
        n if capacity is None else min(n, capacity - len(history.taken(space)))
    )
    keys = [space.canonical(s.params) for s in suggestions]
    assert len(set(keys)) == len(keys), "two suggestions of one batch coincide"
    assert not set(keys) & history.taken(space), "a suggestion repeats a taken or pending set"
    for s in suggestions:
        assert space.errors(s.params) == []
    again = create("bayesopt", space, {"nInitialTrials": 3}, seed).suggest(history, n)
    assert [s.params for s in again] == [s.params for s in suggestions]


def test_a_trial_that_never_reported_a_constraint_metric_is_infeasible() -> None:
    space = float_space(1)
    values = [{"f1": 1.0, "f2": 0.0, "c1": 0.0, "c2": 0.0}, {"f1": 0.0, "f2": 1.0, "c1": 0.0}]
    records = tuple(
        TrialRecord(i, {"x0": 0.1 * i}, TrialState.COMPLETE, v) for i, v in enumerate(values)
    )
    observed, _ = _observe(Geometry.of(space), History(records, THREE[:2], LIMITS), ())
    assert observed.feasible.tolist() == [True, False]
    assert observed.losses.tolist() == [[1.0, -0.0], [0.0, -1.0]]  # f2 is maximized
    assert observed.margins[0].tolist() == [-0.5, -0.5] and observed.margins[1, 1] == np.inf


def feasible_only_right_of(limit: float) -> History:
    """Trials all left of ``limit`` (all infeasible): margin = limit - x, must be <= 0."""
    xs = np.linspace(0.0, limit - 0.1, 8)
    records = tuple(
        TrialRecord(i, {"x0": float(x)}, TrialState.COMPLETE, {"loss": float(x), "c": float(x)})
        for i, x in enumerate(xs)
    )
    return History(records, LOSS, (Constraint(metric="c", min=limit),))


def test_with_no_feasible_trial_it_goes_where_one_is_likely() -> None:
    """The loss pulls left, every trial so far is infeasible: the feasibility model wins."""
    history = feasible_only_right_of(0.6)
    picked = create("bayesopt", float_space(1), {"nInitialTrials": 1}, 0).suggest(history, 1)
    assert float(picked[0].params["x0"]) > 0.5


def zdt_small(params: Mapping[str, Value]) -> dict[str, float]:
    """ZDT1 with three parameters; f2 reported as a score to maximize."""
    x = np.array([float(params[f"x{i}"]) for i in range(3)])  # type: ignore[arg-type]
    g = 1 + 9 * x[1:].mean()
    return {"f1": float(x[0]), "f2": -float(g * (1 - np.sqrt(x[0] / g)))}


def zdt_hypervolume(algorithm: str, seed: int, trials: int) -> float:
    objectives = THREE[:2]
    suggester = create(algorithm, float_space(3), {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        for s in suggester.suggest(History(tuple(records), objectives), 2):  # 2 parallel slots
            values = zdt_small(s.params)
            records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, values))
    history = History(tuple(records), objectives)
    return hypervolume(np.array([history.losses(r) for r in records]), [11.0, 11.0])


@pytest.mark.quality
def test_two_objectives_beat_random_search_on_hypervolume() -> None:
    seeds = range(4)
    ours = [zdt_hypervolume("bayesopt", s, 24) for s in seeds]
    baseline = [zdt_hypervolume("random", s, 24) for s in seeds]
    # Under "no better than random" the eight runs are exchangeable: all four of ours above
    # all four of random search's has probability 1 / C(8, 4) = 1/70.
    assert min(ours) > max(baseline), (ours, baseline)


def best_feasible(algorithm: str, seed: int, trials: int) -> float:
    """A bowl whose minimum (0.3, 0.3) breaks the constraint x0 + x1 >= 1: the best feasible
    value, 0.08, lies on the boundary."""
    constraint = Constraint(metric="sum", min=1.0)
    suggester = create(algorithm, float_space(2), {}, seed)
    records: list[TrialRecord] = []
    while len(records) < trials:
        history = History(tuple(records), LOSS, (constraint,))
        for s in suggester.suggest(history, 1):
            x = np.array([float(s.params["x0"]), float(s.params["x1"])])  # type: ignore[arg-type]
            values = {"loss": float(((x - 0.3) ** 2).sum()), "sum": float(x.sum())}
            records.append(TrialRecord(len(records), s.params, TrialState.COMPLETE, values))
    feasible = [r.values["loss"] for r in records if r.values["sum"] >= 1.0]
    return min(feasible, default=np.inf) - 0.08


@pytest.mark.quality
def test_constraints_find_a_better_feasible_value_than_random_search() -> None:
    seeds = range(5)
    ours = [best_feasible("bayesopt", s, 20) for s in seeds]
    baseline = [best_feasible("random", s, 20) for s in seeds]
    # Each seed a coin flip under "no better than random": five wins have probability 1/32.
    assert all(a < b for a, b in zip(ours, baseline, strict=True)), (ours, baseline)
    assert np.median(ours) <= 0.5 * np.median(baseline), (ours, baseline)
