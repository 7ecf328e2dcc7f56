"""ASHA: rung verdicts on hand-made histories, settings, determinism, an asynchronous run, and
that stopping buys a better configuration than running every trial to the end."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
import pytest

from kubetune.algorithms import REGISTRY, SettingsError, Suggester, create, parse_settings
from kubetune.api.study import Direction, Objective
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.space import Parameter, ParameterKind, SearchSpace, Value

SPACE = SearchSpace((Parameter("x", ParameterKind.FLOAT), Parameter("y", ParameterKind.FLOAT)))
LOSS = (Objective(metric="loss", direction=Direction.MINIMIZE),)
RUNNING, COMPLETE, PRUNED, FAILED = (
    TrialState.RUNNING,
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.FAILED,
)


def trial(index: int, state: TrialState, curve: dict[int, float]) -> TrialRecord:
    points = tuple(IntermediateValue(step, {"loss": v}) for step, v in sorted(curve.items()))
    values = {"loss": curve[max(curve)]} if state is COMPLETE else {}
    return TrialRecord(index, {"x": index / 100, "y": 0.5}, state, values, points)


def asha(**extra: object) -> Suggester:
    return create("asha", SPACE, {"minResource": 1, "maxResource": 9, **extra}, seed=7)


def stopped(*trials: TrialRecord, **extra: object) -> list[int]:
    return sorted(d.index for d in asha(**extra).stops(History(trials, LOSS)))


# Rungs at 1 and 3 (η = 3, resource 1..9). Five finished trials with losses 1..5 at both.
DONE = [trial(i, COMPLETE, {1: i + 1.0, 3: i + 1.0, 9: i + 1.0}) for i in range(5)]


@pytest.mark.parametrize(
    ("case", "trials", "expected"),
    [
        # Recorded at rung 1 with the newcomer: [1, 1.5, 2, 3, 4, 5]; the best third ends at 1.83.
        ("in the best third continues", [*DONE, trial(10, RUNNING, {1: 1.5})], []),
        ("outside the best third stops", [*DONE, trial(10, RUNNING, {1: 2.5})], [10]),
        ("before the first rung nothing happens", [*DONE, trial(10, RUNNING, {0: 99.0})], []),
        (
            "between rungs it is held to the last one",
            [*DONE, trial(10, RUNNING, {1: 2.5, 2: 0.1})],
            [10],
        ),
        (
            "the value at a rung is the one reported there, not a later one",
            [*DONE, trial(10, RUNNING, {1: 1.0, 2: 50.0})],
            [],
        ),
        (
            "past the next rung only that rung counts",
            [*DONE, trial(10, RUNNING, {1: 9.0, 3: 1.0})],
            [],
        ),
        (
            "reports that skip the rung step use the first one past it",
            [*DONE, trial(10, RUNNING, {2: 2.5})],
            [10],
        ),
        ("alone at a rung continues", [trial(10, RUNNING, {1: 100.0})], []),
        # Two at a rung: the better one stays, the worse goes, whichever arrived first.
        ("two running trials", [trial(10, RUNNING, {1: 2.0}), trial(11, RUNNING, {1: 1.0})], [10]),
        (
            "failed trials are not peers",
            [trial(1, FAILED, {1: 0.0}), trial(2, FAILED, {1: 0.0}), trial(10, RUNNING, {1: 5.0})],
            [],
        ),
        (
            "pruned trials are peers",
            [trial(1, PRUNED, {1: 0.0}), trial(2, PRUNED, {1: 0.0}), trial(10, RUNNING, {1: 5.0})],
            [10],
        ),
        (
            "finished trials are never stopped",
            [*DONE, trial(10, PRUNED, {1: 99.0}), trial(11, COMPLETE, {1: 99.0, 9: 99.0})],
            [],
        ),
    ],
)
def test_promotion(case: str, trials: list[TrialRecord], expected: list[int]) -> None:
    assert stopped(*trials) == expected, case


def test_reduction_factor_sets_the_share_that_continues() -> None:
    runners = [trial(10 + i, RUNNING, {1: 1.5 + i}) for i in range(4)]  # 1.5, 2.5, 3.5, 4.5
    # η = 2: the best half of the nine recorded values (cutoff 3) continue.
    assert stopped(*DONE, *runners, reductionFactor=2) == [12, 13]
    assert stopped(*DONE, *runners, reductionFactor=3) == [11, 12, 13]


def test_maximized_metrics_are_ranked_as_losses() -> None:
    accuracy = (Objective(metric="loss", direction=Direction.MAXIMIZE),)
    trials = (*DONE, trial(10, RUNNING, {1: 4.5}), trial(11, RUNNING, {1: 1.5}))
    assert sorted(d.index for d in asha().stops(History(trials, accuracy))) == [11]


def test_reason_says_where_and_why() -> None:
    (decision,) = asha().stops(History((*DONE, trial(10, RUNNING, {1: 2.5})), LOSS))
    assert decision.pruned
    assert decision.reason == (
        "asha: loss 2.5 at rung 1 of bracket 0 is outside the best 1/3 of its 6 trials "
        "(cutoff 2.33333)"
    )


def test_suggestions_get_the_full_resource_and_never_repeat() -> None:
    h = History(tuple(DONE), LOSS)
    suggestions = asha().suggest(h, 8)
    assert len(suggestions) == 8
    assert {s.budget for s in suggestions} == {9.0}
    keys = {SPACE.canonical(s.params) for s in suggestions}
    assert len(keys) == 8 and not keys & h.taken(SPACE)


def test_same_history_same_decisions_after_a_restart() -> None:
    result = simulate(asha(), synthetic_loss, workers=3, max_trials=20)
    h = result.history
    first, restarted = asha(), asha()
    assert first.suggest(h, 3) == restarted.suggest(h, 3)
    assert first.stops(h) == restarted.stops(h)
    assert simulate(asha(), synthetic_loss, workers=3, max_trials=20).history == h


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, r"minResource: .*need the training resource: set spec\.budget\.resource"),
        ({"minResource": 1}, r"maxResource: .*need the training resource"),
        ({"minResource": 9, "maxResource": 3}, r"maxResource \(3\) must be above minResource"),
        ({"minResource": 1, "maxResource": 9, "reductionFactor": 1}, "reductionFactor"),
        ({"minResource": 1, "maxResource": 9, "sampler": "cmaes"}, "sampler"),
        ({"minResource": 0, "maxResource": 9}, "minResource"),
    ],
)
def test_bad_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings("asha", settings)


def test_declares_that_it_needs_a_resource_and_stops_trials() -> None:
    capabilities = REGISTRY["asha"].capabilities
    assert capabilities.needs_resource and capabilities.stops_trials
    assert not capabilities.several_objectives
    assert not REGISTRY["random"].capabilities.needs_resource


class _RecordingModel(Suggester[Any]):
    """Stands in for tpe/bayesopt: remembers the history it was shown."""

    seen: ClassVar[list[History]] = []

    def suggest(self, history: History, n: int) -> list[Any]:
        _RecordingModel.seen.append(history)
        return REGISTRY["random"].create(self.space, {}, self.seed).suggest(history, n)


def test_model_sampler_is_fitted_on_the_largest_well_observed_rung(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(REGISTRY, "tpe", replace(REGISTRY["tpe"], suggester=_RecordingModel))
    _RecordingModel.seen = []
    sampler = asha(sampler="tpe")
    # Two dims need five points: six trials reached rung 1, five rung 3, two finished.
    trials = [
        *[trial(i, COMPLETE, {1: 1.0 + i, 3: 1.0 + i, 9: 1.0 + i}) for i in range(2)],
        *[trial(2 + i, PRUNED, {1: 3.0 + i, 3: 3.0 + i}) for i in range(3)],
        trial(5, PRUNED, {1: 9.0}),
        trial(6, RUNNING, {}),
        trial(7, FAILED, {1: 0.0, 3: 0.0}),
    ]
    sampler.suggest(History(tuple(trials), LOSS), 2)
    (view,) = _RecordingModel.seen
    assert [t.state for t in view.trials] == [COMPLETE] * 5 + [FAILED, RUNNING, FAILED]
    assert [view.loss(t) for t in view.completed] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # With too few observations anywhere the plain random sampler is used.
    _RecordingModel.seen = []
    sampler.suggest(History(tuple(trials[:3]), LOSS), 2)
    assert _RecordingModel.seen == []


@pytest.mark.parametrize("model", ["tpe", "bayesopt"])
def test_real_model_samplers_when_available(model: str) -> None:
    if model not in REGISTRY:
        pytest.skip(f"{model} is not registered yet")
    result = simulate(asha(sampler=model), synthetic_loss, workers=4, max_trials=24)
    assert len(result.history.trials) == 24


# --- an asynchronous run on a fake clock ----------------------------------------------------


@dataclass
class _Live:
    params: dict[str, Value]
    budget: float
    speed: int  # ticks per resource unit: trials progress at different rates
    points: list[tuple[int, float]] = field(default_factory=list)
    state: TrialState = TrialState.RUNNING


@dataclass
class RunResult:
    history: History
    compute: int  # resource units spent in all


def simulate(
    suggester: Suggester,
    loss: Callable[[dict[str, Value], int], float],
    workers: int,
    max_trials: int,
    compute_limit: float = math.inf,
    stopping: bool = True,
) -> RunResult:
    """Run a study to the end: ``workers`` trials at once, each reporting one resource unit
    every ``speed`` ticks, stop decisions applied every tick."""
    trials: list[_Live] = []
    finished: dict[int, TrialRecord] = {}  # records of finished trials never change
    compute, tick = 0, 0

    def record(i: int, t: _Live) -> TrialRecord:
        return TrialRecord(
            i,
            t.params,
            t.state,
            {"loss": t.points[-1][1]} if t.state is COMPLETE else {},
            tuple(IntermediateValue(s, {"loss": v}) for s, v in t.points),
            t.budget,
        )

    def history() -> History:
        for i, t in enumerate(trials):
            if t.state.is_finished() and i not in finished:
                finished[i] = record(i, t)
        return History(tuple(finished.get(i) or record(i, t) for i, t in enumerate(trials)), LOSS)

    while True:
        running = [t for t in trials if t.state is RUNNING]
        free = workers - len(running)
        if free > 0 and len(trials) < max_trials and compute < compute_limit:
            for s in suggester.suggest(history(), min(free, max_trials - len(trials))):
                assert s.budget is not None
                trials.append(_Live(s.params, s.budget, speed=1 + len(trials) % 3))
        running = [t for t in trials if t.state is RUNNING]
        if not running:
            break
        tick += 1
        for t in running:
            if tick % t.speed:
                continue
            step = len(t.points) + 1
            t.points.append((step, loss(t.params, step)))
            compute += 1
            if step >= t.budget:
                t.state = COMPLETE
        if stopping:
            for decision in suggester.stops(history()):
                assert trials[decision.index].state is RUNNING
                trials[decision.index].state = PRUNED
        assert tick < 100_000, "the study stalled"
    return RunResult(history(), compute)


def synthetic_loss(params: dict[str, Value], step: int) -> float:
    """Learning curves whose final loss has its optimum at (0.3, 0.7); curves seldom cross."""
    x, y = float(params["x"]), float(params["y"])
    final = (x - 0.3) ** 2 + (y - 0.7) ** 2
    return final + (0.5 + x) / math.sqrt(step)


@pytest.mark.parametrize("workers", [1, 4, 30])
def test_an_asynchronous_run_launches_and_finishes_every_trial(workers: int) -> None:
    result = simulate(asha(), synthetic_loss, workers=workers, max_trials=40)
    trials = result.history.trials
    assert len(trials) == 40
    assert all(t.state.is_finished() for t in trials)
    finished_at = [max(v.step for v in t.intermediate) for t in trials]
    assert max(finished_at) <= 9
    assert sum(t.state is COMPLETE for t in trials) < 20  # most were stopped early


@pytest.mark.quality
def test_stopping_finds_better_configurations_for_the_same_compute() -> None:
    """ASHA with random configurations against random search that runs every trial to the end,
    both spending 20 full trainings (27 units each). ASHA must win on at least 9 of 10 seeds —
    a 1% chance if the two were equally good."""

    def best_final(h: History) -> float:
        return min(h.loss(t) or math.inf for t in h.completed)

    wins = 0
    for seed in range(10):
        budget = 20 * 27
        settings = {"minResource": 1, "maxResource": 27}
        with_stopping = simulate(
            create("asha", SPACE, settings, seed), synthetic_loss, 4, 10_000, budget
        )
        without = simulate(
            create("asha", SPACE, settings, seed), synthetic_loss, 4, 10_000, budget, False
        )
        wins += best_final(with_stopping.history) < best_final(without.history)
    assert wins >= 9


def test_rung_values_are_numbers() -> None:
    assert np.isfinite(synthetic_loss({"x": 0.3, "y": 0.7}, 1))
