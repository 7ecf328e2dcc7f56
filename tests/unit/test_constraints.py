"""Constraints and the reference point: bad manifests are refused naming the field and the
fix; feasibility is decided once (history) and only feasible trials count as best, reach a
target, join the Pareto front or add hypervolume; nsga2 ranks feasible before infeasible."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubetune.algorithms import REGISTRY
from kubetune.algorithms._geometry import Geometry
from kubetune.algorithms._nsga2 import _Archive, _select
from kubetune.api.study import Constraint, Direction, Objective, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import Outcome, Planner, TrialSnapshot
from kubetune.history import History, TrialRecord, TrialState, feasibility
from kubetune.hypervolume import hypervolume
from kubetune.local.progress import study_result
from kubetune.record import RecordedTrial, study_record
from kubetune.space import SearchSpace
from kubetune.summary import EXACT_HYPERVOLUME_FRONT, front_hypervolume, summarize
from kubetune.validation import InvalidStudy, parse_study

P = TrialPhase
BRANIN = yaml.safe_load((Path(__file__).parents[2] / "examples" / "branin.yaml").read_text())
TWO = [
    {"metric": "loss", "direction": "minimize"},
    {"metric": "acc", "direction": "maximize"},
]
HONOURING = [n for n, d in REGISTRY.items() if d.capabilities.constraints]


def study(algorithm: str = "random", **spec: Any) -> dict[str, Any]:
    document = copy.deepcopy(BRANIN)
    document["spec"].pop("objective")
    document["spec"].update(objectives=TWO, metrics=["latency"], **spec)
    document["spec"]["algorithm"] = {"name": algorithm}
    return document


def errors_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidStudy) as caught:
        parse_study(document)
    return [str(e) for e in caught.value.errors]


# --- bad input --------------------------------------------------------------------------------


def test_a_constraint_on_an_unknown_metric_names_the_field_and_the_fix() -> None:
    problems = errors_of(study(constraints=[{"metric": "memory", "max": 2}]))
    assert any(
        "spec.constraints[0].metric: 'memory' is neither an objective nor a recorded metric; "
        "add it to spec.metrics" in p
        for p in problems
    ), problems


@pytest.mark.parametrize(
    "constraint", [{"metric": "latency"}, {"metric": "latency", "max": 1, "min": 0}]
)
def test_a_constraint_needs_exactly_one_of_max_or_min(constraint: dict[str, Any]) -> None:
    problems = errors_of(study(constraints=[constraint]))
    assert any(
        p.startswith("spec.constraints[0]:") and "give exactly one of 'max' or 'min'" in p
        for p in problems
    ), problems


def test_constraint_metrics_must_be_distinct() -> None:
    twice = [{"metric": "latency", "max": 10}, {"metric": "latency", "min": 1}]
    problems = errors_of(study(constraints=twice))
    assert any("constraint metrics must be distinct" in p for p in problems), problems


@pytest.mark.parametrize("point", [[1.0, 2.0, 3.0], [1.0]])
def test_a_reference_point_needs_one_value_per_objective(point: list[float]) -> None:
    problems = errors_of(study(referencePoint=point))
    assert any("referencePoint" in p and "one value per objective" in p for p in problems), problems


def test_a_reference_point_needs_several_objectives() -> None:
    document = copy.deepcopy(BRANIN)
    document["spec"]["referencePoint"] = [1.0]
    problems = errors_of(document)
    assert any("spec.referencePoint is for several objectives" in p for p in problems), problems


@pytest.mark.parametrize(
    "algorithm", [n for n, d in REGISTRY.items() if not d.capabilities.constraints]
)
def test_an_algorithm_that_does_not_honour_constraints_is_refused_with_those_that_do(
    algorithm: str,
) -> None:
    document = copy.deepcopy(BRANIN)
    document["spec"].update(metrics=["latency"], constraints=[{"metric": "latency", "max": 5}])
    document["spec"]["algorithm"] = {"name": algorithm}
    document["spec"]["budget"]["resource"] = {"name": "epochs", "min": 1, "max": 9}
    problems = errors_of(document)
    expected = (
        f"spec.algorithm.name: {algorithm} does not honour spec.constraints; "
        f"choose one that does: {', '.join(HONOURING)}"
    )
    assert expected in problems, problems


def test_the_algorithms_that_honour_constraints() -> None:
    assert {"random", "sobol", "grid", "nsga2", "tpe", "bayesopt"} <= set(HONOURING)


def test_a_constrained_study_with_a_reference_point_is_valid() -> None:
    document = study(
        "nsga2",
        constraints=[{"metric": "latency", "max": 10}, {"metric": "acc", "min": 0.5}],
        referencePoint=[5.0, 0.0],
    )
    spec = parse_study(document).spec
    assert spec.reference_losses() == (5.0, -0.0)  # acc is maximized: negated


# --- feasibility ------------------------------------------------------------------------------

LIMITS = [Constraint(metric="latency", max=10), Constraint(metric="acc", min=0.5)]


def test_feasibility_sums_what_each_constraint_is_broken_by() -> None:
    assert feasibility({"latency": 10.0, "acc": 0.5}, LIMITS).feasible
    broken = feasibility({"latency": 12.0, "acc": 0.25}, LIMITS)
    assert not broken.feasible
    assert broken.violation == pytest.approx(2.25)
    assert broken.reason == "latency=12 breaks latency <= 10; acc=0.25 breaks acc >= 0.5"


@pytest.mark.parametrize("value", [None, math.nan, math.inf])
def test_a_constraint_metric_never_reported_is_infeasible_with_a_reason(
    value: float | None,
) -> None:
    values = {"acc": 0.9} if value is None else {"acc": 0.9, "latency": value}
    result = feasibility(values, LIMITS)
    assert not result.feasible and result.violation == math.inf
    assert result.reason is not None and "'latency' was never reported" in result.reason


def test_history_exposes_feasibility_per_trial() -> None:
    objectives = (Objective(metric="loss", direction=Direction.MINIMIZE),)
    records = (
        TrialRecord(0, {}, TrialState.COMPLETE, {"loss": 1.0, "latency": 3.0, "acc": 0.9}),
        TrialRecord(1, {}, TrialState.COMPLETE, {"loss": 1.0}),
    )
    history = History(records, objectives, tuple(LIMITS))
    assert [history.feasibility(t).feasible for t in records] == [True, False]
    entries = _Archive(Geometry.of(SearchSpace.from_specs([]))).read(history)
    assert [e.violation for e in entries] == [0.0, math.inf]  # what nsga2 ranks by


# --- what counts ------------------------------------------------------------------------------


def spec_of(document: dict[str, Any]) -> StudySpec:
    return parse_study(document).spec


def test_only_feasible_trials_join_the_front_and_add_hypervolume() -> None:
    spec = spec_of(study(constraints=[{"metric": "latency", "max": 10}], referencePoint=[4, 0]))
    trials = [
        RecordedTrial(0, {}, P.SUCCEEDED, values={"loss": 1.0, "acc": 0.5, "latency": 5.0}),
        RecordedTrial(1, {}, P.SUCCEEDED, values={"loss": 0.0, "acc": 0.9, "latency": 50.0}),
        RecordedTrial(2, {}, P.SUCCEEDED, values={"loss": 2.0, "acc": 0.8, "latency": 1.0}),
        RecordedTrial(3, {}, P.SUCCEEDED, values={"loss": 0.5, "acc": 0.6}),  # never reported
        RecordedTrial(4, {}, P.FAILED),
    ]
    summary = summarize(spec, trials)
    assert summary.pareto_indices == (0, 2)  # trial 1 dominates both but is infeasible
    assert summary.feasible == 2 and summary.front_size == 2
    # Losses (loss, -acc) up to (4, 0): (1, -0.5) and (2, -0.8) cover 3*0.5 + 2*0.3.
    assert summary.hypervolume == pytest.approx(3 * 0.5 + 2 * 0.3)


def test_the_default_reference_point_comes_from_the_worst_observed_values() -> None:
    spec = spec_of(study())
    trials = [
        RecordedTrial(0, {}, P.SUCCEEDED, values={"loss": 0.0, "acc": 0.0}),
        RecordedTrial(1, {}, P.SUCCEEDED, values={"loss": 1.0, "acc": 1.0}),
    ]
    # Reference (1.1, 0.1): each extreme trial adds a 0.1-wide strip beyond the other.
    assert summarize(spec, trials).hypervolume == pytest.approx(1.1 * 1.1 - 1.0 * 1.0)


def test_the_best_trial_and_the_target_count_only_feasible_trials() -> None:
    document = copy.deepcopy(BRANIN)
    objective = document["spec"]["objective"]
    document["spec"].update(metrics=["latency"], constraints=[{"metric": "latency", "max": 10}])
    document["spec"]["algorithm"] = {"name": "random"}
    metric = objective["metric"]
    good = 1.0 if objective["direction"] == "minimize" else 100.0
    objective["target"] = good
    planner = Planner(parse_study(document).spec, "s")
    trials = [
        TrialSnapshot(0, {}, P.SUCCEEDED, values={metric: good, "latency": 11.0}),
        TrialSnapshot(1, {}, P.SUCCEEDED, values={metric: good}),
        TrialSnapshot(2, {}, P.SUCCEEDED, values={metric: good * 2, "latency": 1.0}),
    ]
    summary = planner.summarize(trials)
    assert summary.best_index == 2 and summary.feasible == 1
    decision = planner.decide(trials)
    assert decision.ending is None or decision.ending.outcome is not Outcome.GOAL_REACHED
    reached = planner.decide(
        [*trials, TrialSnapshot(3, {}, P.SUCCEEDED, values={metric: good, "latency": 9.0})]
    )
    assert reached.ending is not None and reached.ending.outcome is Outcome.GOAL_REACHED
    assert "trial 3 reached" in reached.ending.message


# --- nsga2 ------------------------------------------------------------------------------------


def test_nsga2_ranks_feasible_before_infeasible_and_infeasible_by_violation() -> None:
    losses = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 1.0], [2.0, 2.0], [np.nan, np.nan]])
    violations = np.array([3.0, 0.0, 1.0, 0.0, 0.0])
    kept, rank, _ = _select(losses, size=5, violations=violations)
    # Feasible 3 dominates feasible 1; then infeasible 2 (violation 1) before 0 (3); failed last.
    assert kept == [3, 1, 2, 0, 4]
    assert rank.tolist() == [0, 1, 2, 3, 4]


# --- properties -------------------------------------------------------------------------------

rows = st.lists(
    st.tuples(
        st.floats(0, 10, allow_nan=False),
        st.floats(0, 10, allow_nan=False),
        st.sampled_from([0.0, 0.0, 0.5, 2.0, math.inf]),
    ),
    min_size=1,
    max_size=30,
)


@given(rows, st.integers(1, 30))
def test_nsga2_never_keeps_an_infeasible_row_over_a_feasible_one(
    points: list[tuple[float, float, float]], size: int
) -> None:
    losses = np.array([p[:2] for p in points])
    violations = np.array([p[2] for p in points])
    kept, rank, _ = _select(losses, size, violations)
    assert len(kept) == min(size, len(points))
    kept_violations = violations[kept].tolist()
    assert kept_violations == sorted(kept_violations, key=lambda v: v > 0)  # feasible first
    infeasible = [v for v in kept_violations if v > 0]
    assert infeasible == sorted(infeasible)
    if any(v > 0 for v in kept_violations):  # every feasible row made it in
        assert (violations == 0).sum() == sum(v == 0 for v in kept_violations)
    assert rank.tolist() == sorted(rank.tolist())


@given(rows)
def test_the_front_and_best_hold_only_feasible_trials(
    points: list[tuple[float, float, float]],
) -> None:
    spec = spec_of(study(constraints=[{"metric": "latency", "max": 1.0}]))
    trials = [
        RecordedTrial(
            i,
            {},
            P.SUCCEEDED,
            values={"loss": a, "acc": -b, **({} if v == math.inf else {"latency": 1.0 + v})},
        )
        for i, (a, b, v) in enumerate(points)
    ]
    summary = summarize(spec, trials)
    feasible = {i for i, (_, _, v) in enumerate(points) if v == 0}
    assert summary.feasible == len(feasible)
    assert set(summary.front_indices) <= feasible
    assert set(summary.pareto_indices) <= set(summary.front_indices)
    assert (summary.hypervolume is None) == (not feasible)


def test_a_study_whose_trials_all_break_a_constraint_says_so_not_that_none_succeeded() -> None:
    spec = spec_of(study(constraints=[{"metric": "latency", "max": 1.0}]))
    trials = [RecordedTrial(0, {}, P.SUCCEEDED, values={"loss": 1.0, "acc": 0.5, "latency": 3.0})]
    text = study_result(study_record("s", spec, trials, "here"))
    assert text.startswith("no feasible trial: every succeeded trial breaks spec.constraints")


def test_a_front_too_large_for_an_exact_hypervolume_in_a_reconcile_reports_none() -> None:
    limit = EXACT_HYPERVOLUME_FRONT[4]
    rng = np.random.default_rng(0)
    sphere = np.abs(rng.normal(size=(limit + 1, 4)))
    sphere /= np.linalg.norm(sphere, axis=1, keepdims=True)
    assert front_hypervolume(sphere, [2.0] * 4) is None
    small = sphere[:3]
    assert front_hypervolume(small, [2.0] * 4) == pytest.approx(hypervolume(small, [2.0] * 4))
    assert front_hypervolume(np.tile(sphere[:, :2], (30, 1)), [2.0, 2.0]) is not None  # any 2-D
