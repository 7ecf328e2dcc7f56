"""Engine decisions, table-driven: what to launch, what to stop, when a study ends and why."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.algorithms import History, NoSettings, Suggester, Suggestion, next_index
from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import Outcome, Planner, TrialSnapshot, algorithm_settings
from kubetune.history import IntermediateValue

P = TrialPhase


def spec(**overrides: Any) -> StudySpec:
    base: dict[str, Any] = {
        "objective": {"metric": "acc", "direction": "maximize"},
        "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        "algorithm": {"name": "random"},
        "budget": {"maxTrials": 4, "parallelTrials": 2},
        "seed": 3,
        "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
    }
    for key, value in overrides.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return StudySpec.model_validate(base)


def trial(index: int, phase: TrialPhase, acc: float | None = None, **kw: Any) -> TrialSnapshot:
    values = {} if acc is None else {"acc": acc}
    return TrialSnapshot(index=index, params={"x": index / 10}, phase=phase, values=values, **kw)


CASES = [
    # (name, overrides, trials, elapsed, launched indices, stopped indices, outcome)
    ("fresh study fills parallel slots", {}, [], 0, [0, 1], [], None),
    ("one slot free", {}, [trial(0, P.RUNNING), trial(1, P.SUCCEEDED, 0.5)], 0, [2], [], None),
    (
        "never exceeds maxTrials",
        {},
        [trial(i, P.SUCCEEDED, 0.1) for i in range(3)],
        0,
        [3],
        [],
        None,
    ),
    (
        "budget spent ends the study",
        {},
        [trial(i, P.SUCCEEDED, 0.1) for i in range(4)],
        0,
        [],
        [],
        Outcome.BUDGET_EXHAUSTED,
    ),
    (
        "waits for running trials before ending",
        {},
        [*(trial(i, P.SUCCEEDED, 0.1) for i in range(3)), trial(3, P.RUNNING)],
        0,
        [],
        [],
        None,
    ),
    (
        "goal reached stops running trials",
        {"objective": {"metric": "acc", "direction": "maximize", "target": 0.9}},
        [trial(0, P.SUCCEEDED, 0.95), trial(1, P.RUNNING)],
        0,
        [],
        [1],
        Outcome.GOAL_REACHED,
    ),
    (
        "goal reached for a minimized metric",
        {"objective": {"metric": "acc", "direction": "minimize", "target": 0.1}},
        [trial(0, P.SUCCEEDED, 0.05)],
        0,
        [],
        [],
        Outcome.GOAL_REACHED,
    ),
    (
        "goal not reached by a failed trial",
        {"objective": {"metric": "acc", "direction": "maximize", "target": 0.9}},
        [trial(0, P.FAILED, 0.95)],
        0,
        [1, 2],
        [],
        None,
    ),
    (
        "too many failures",
        {"budget": {"maxTrials": 10, "parallelTrials": 2, "maxFailedTrials": 1}},
        [trial(0, P.FAILED), trial(1, P.FAILED), trial(2, P.RUNNING)],
        0,
        [],
        [2],
        Outcome.TOO_MANY_FAILED_TRIALS,
    ),
    (
        "failures within the limit continue",
        {"budget": {"maxTrials": 10, "parallelTrials": 2, "maxFailedTrials": 2}},
        [trial(0, P.FAILED), trial(1, P.FAILED)],
        0,
        [2, 3],
        [],
        None,
    ),
    (
        "timeout",
        {"budget": {"maxTrials": 10, "parallelTrials": 2, "timeoutSeconds": 60}},
        [trial(0, P.RUNNING)],
        61,
        [],
        [0],
        Outcome.TIMED_OUT,
    ),
    (
        "a trial already asked to stop is not asked again",
        {"objective": {"metric": "acc", "direction": "maximize", "target": 0.9}},
        [trial(0, P.SUCCEEDED, 0.95), trial(1, P.RUNNING, stop_requested=True)],
        0,
        [],
        [],
        Outcome.GOAL_REACHED,
    ),
    (
        "raising maxTrials continues a finished study",
        {"budget": {"maxTrials": 6, "parallelTrials": 2}},
        [trial(i, P.SUCCEEDED, 0.1) for i in range(4)],
        0,
        [4, 5],
        [],
        None,
    ),
    (
        "indices continue after gaps",
        {},
        [trial(0, P.SUCCEEDED, 0.1), trial(2, P.SUCCEEDED, 0.2)],
        0,
        [3, 4],
        [],
        None,
    ),
]


@pytest.mark.parametrize(
    "overrides, trials, elapsed, launched, stopped, outcome",
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decisions(
    overrides: dict, trials: list, elapsed: float, launched: list, stopped: list, outcome: Any
) -> None:
    decision = Planner(spec(**overrides), "s").decide(trials, elapsed)
    assert [t.index for t in decision.launch] == launched
    assert [s.index for s in decision.stop] == stopped
    assert (decision.ending.outcome if decision.ending else None) == outcome


def test_suspended_study_launches_nothing_but_still_ends() -> None:
    planner = Planner(spec(), "s")
    assert planner.decide([], suspended=True).launch == []
    done = [trial(i, P.SUCCEEDED, 0.1) for i in range(4)]
    assert planner.decide(done, suspended=True).ending is not None


def test_initial_trials_come_first_in_order_and_only_once() -> None:
    planner = Planner(spec(initialTrials=[{"x": 0.25}, {"x": 0.75}, {"x": 0.5}]), "s")
    first = planner.decide([])
    assert [(t.index, t.params) for t in first.launch] == [(0, {"x": 0.25}), (1, {"x": 0.75})]
    running = [TrialSnapshot(t.index, t.params, P.RUNNING) for t in first.launch]
    second = planner.decide([*running[:1], TrialSnapshot(1, {"x": 0.75}, P.SUCCEEDED, {"acc": 1})])
    assert [(t.index, t.params) for t in second.launch] == [(2, {"x": 0.5})]


def test_same_trials_give_the_same_decision_and_parallel_picks_differ() -> None:
    trials = [trial(0, P.SUCCEEDED, 0.3), trial(1, P.RUNNING)]
    a = Planner(spec(budget={"maxTrials": 20, "parallelTrials": 8}), "s").decide(trials)
    b = Planner(spec(budget={"maxTrials": 20, "parallelTrials": 8}), "s").decide(trials)
    assert a == b
    params = [tuple(t.params.items()) for t in a.launch]
    assert len(set(params)) == len(params) == 7


def test_grid_study_ends_when_the_space_is_exhausted() -> None:
    planner = Planner(
        spec(
            parameters=[{"name": "k", "type": "int", "low": 1, "high": 3}],
            algorithm={"name": "grid"},
            budget={"maxTrials": 10, "parallelTrials": 5},
        ),
        "s",
    )
    first = planner.decide([])
    assert sorted(t.params["k"] for t in first.launch) == [1, 2, 3]
    done = [TrialSnapshot(t.index, t.params, P.SUCCEEDED, {"acc": 1.0}) for t in first.launch]
    assert planner.decide(done).ending.outcome is Outcome.SEARCH_SPACE_EXHAUSTED


def test_summary_picks_the_best_succeeded_trial_by_direction() -> None:
    trials = [trial(0, P.SUCCEEDED, 0.5), trial(1, P.SUCCEEDED, 0.9), trial(2, P.PRUNED, 0.99)]
    summary = Planner(spec(), "s").summarize(trials)
    assert summary.best_index == 1
    assert summary.counts[P.SUCCEEDED] == 2 and summary.counts[P.PRUNED] == 1
    minimizing = Planner(spec(objective={"metric": "acc", "direction": "minimize"}), "s")
    assert minimizing.summarize(trials).best_index == 0


def test_pareto_front_of_two_objectives() -> None:
    planner = Planner(
        spec(
            objective=None,
            objectives=[
                {"metric": "acc", "direction": "maximize"},
                {"metric": "ms", "direction": "minimize"},
            ],
        ),
        "s",
    )
    points = {0: (0.9, 10.0), 1: (0.8, 5.0), 2: (0.7, 8.0), 3: (0.95, 20.0)}
    trials = [
        TrialSnapshot(i, {"x": 0.1}, P.SUCCEEDED, {"acc": a, "ms": m})
        for i, (a, m) in points.items()
    ]
    assert sorted(planner.summarize(trials).pareto_indices) == [0, 1, 3]


def test_saved_steps_count_what_pruned_trials_did_not_run() -> None:
    def curve(last: int) -> tuple[IntermediateValue, ...]:
        return tuple(IntermediateValue(step, {"acc": 0.5}) for step in range(1, last + 1))

    trials = [
        TrialSnapshot(0, {"x": 0.1}, P.SUCCEEDED, {"acc": 0.9}, curve(10)),
        TrialSnapshot(1, {"x": 0.2}, P.PRUNED, {"acc": 0.2}, curve(3)),
        TrialSnapshot(2, {"x": 0.3}, P.PRUNED, {"acc": 0.3}, curve(6)),
    ]
    assert Planner(spec(), "s").summarize(trials).saved_steps == 7 + 4
    with_resource = spec(budget={"resource": {"name": "epochs", "min": 1, "max": 27}})
    assert Planner(with_resource, "s").summarize(trials).saved_steps == 24 + 21


class _RecordingSuggester(Suggester[NoSettings]):
    """Suggests x = index/100 for the index it believes each suggestion gets."""

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        first = next_index(history)
        return [Suggestion({"x": (first + k) / 100}) for k in range(n)]


@pytest.mark.parametrize(
    ("initial", "existing"),
    [(0, []), (0, [0, 1, 2]), (3, []), (3, [0]), (3, [0, 1, 2, 3, 4]), (2, [0, 1, 5])],
)
def test_suggestion_k_becomes_trial_next_index_plus_k(initial: int, existing: list[int]) -> None:
    """The contract suggesters key their randomness on (see ``algorithms.base``)."""
    planner = Planner(
        spec(
            budget={"maxTrials": 20, "parallelTrials": 12},
            initialTrials=[{"x": 0.9 - i / 100} for i in range(initial)],
        ),
        "s",
    )
    planner.suggester = _RecordingSuggester(planner.space, NoSettings(), 0)
    decision = planner.decide([trial(i, P.RUNNING) for i in existing])
    suggested = [t for t in decision.launch if t.index >= initial]
    assert suggested
    assert all(t.params == {"x": t.index / 100} for t in suggested), decision.launch


def test_the_resource_is_filled_in_for_an_algorithm_that_declares_it_needs_one() -> None:
    resource = {"resource": {"name": "epochs", "min": 1, "max": 27}}
    asha = spec(algorithm={"name": "asha"}, budget=resource)
    assert algorithm_settings(asha) == {"minResource": 1, "maxResource": 27}
    assert algorithm_settings(spec(budget=resource)) == {}  # random takes no resource


@pytest.mark.parametrize("algorithm", ["random", "bayesopt", "asha"])
def test_a_trial_no_algorithm_hands_a_share_trains_with_the_whole_resource(algorithm: str) -> None:
    """Found by fuzzing: ``${budget}`` in the template of a study with a resource, for an
    initial trial or a trial of a single-fidelity algorithm, had no value to substitute."""
    resource = {"resource": {"name": "epochs", "min": 1, "max": 27}, "maxTrials": 9}
    planner = Planner(
        spec(algorithm={"name": algorithm}, budget=resource, initialTrials=[{"x": 0.5}]), "s"
    )
    launch = planner.decide([]).launch
    assert launch[0].budget == 27.0  # the initial trial
    assert all(t.budget is not None for t in launch)
    if algorithm != "asha":
        assert {t.budget for t in launch} == {27.0}
