"""Warm start, pure: results files parsed, past trials matched to the space, and the engine
giving them to the algorithm without counting them as the study's own."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.algorithms import REGISTRY, History, Suggester, Suggestion, create
from kubetune.api.study import Objective, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import Outcome, Planner, TrialSnapshot
from kubetune.history import TrialRecord, TrialState
from kubetune.space import SearchSpace
from kubetune.validation import InvalidStudy, parse_study
from kubetune.warmstart import (
    InvalidResults,
    PastTrial,
    ResultsFormat,
    WarmStart,
    match,
    parse_results,
    unmatched_parameters,
)

LOSS = [Objective(metric="loss", direction="minimize")]
PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "type": "float", "low": 0.001, "high": 1.0, "log": True},
    {"name": "layers", "type": "int", "low": 1, "high": 4},
    {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 1.0, "when": {"opt": ["sgd"]}},
]


def spec(**overrides: Any) -> StudySpec:
    base: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": PARAMETERS,
        "algorithm": {"name": "random"},
        "budget": {"maxTrials": 3},
        "seed": 1,
        "trialTemplate": {
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["r"]}]}}}
        },
    }
    return StudySpec.model_validate(base | overrides)


SPACE = SearchSpace.from_specs(spec().parameters)


# -- parsing ------------------------------------------------------------------------------


def test_kubetune_csv_columns_are_read() -> None:
    text = (
        "trial,phase,loss,params.lr,params.layers,params.opt,params.momentum\n"
        "0,Succeeded,0.5,0.01,2,adam,\n"
        "1,Failed,,0.1,3,sgd,0.9\n"
        "2,Succeeded,0.25,0.1,3,sgd,0.9\n"
    )
    past = parse_results(text, ResultsFormat.CSV, LOSS)
    assert past == [
        PastTrial({"lr": "0.01", "layers": "2", "opt": "adam"}, {"loss": 0.5}),
        PastTrial({"lr": "0.1", "layers": "3", "opt": "sgd", "momentum": "0.9"}, {"loss": 0.25}),
    ]


def test_optuna_dataframe_columns_are_read() -> None:
    text = (
        "number,value,params_lr,params_layers,params_opt,state\n"
        "0,0.5,0.01,2,adam,COMPLETE\n"
        "1,,0.02,2,adam,PRUNED\n"
    )
    past = parse_results(text, ResultsFormat.CSV, LOSS)
    assert past == [PastTrial({"lr": "0.01", "layers": "2", "opt": "adam"}, {"loss": 0.5})]


def test_several_objectives_read_optuna_values_columns() -> None:
    two = [*LOSS, Objective(metric="ms", direction="minimize")]
    text = "values_0,values_1,params_lr\n0.5,12,0.1\n"
    assert parse_results(text, ResultsFormat.CSV, two) == [
        PastTrial({"lr": "0.1"}, {"loss": 0.5, "ms": 12.0})
    ]


def test_json_rows_flat_or_with_params_and_values_maps() -> None:
    text = json.dumps(
        [
            {"params": {"lr": 0.1, "layers": 2}, "values": {"loss": 0.3}},
            {"params.lr": 0.2, "params.layers": 1, "loss": 0.4, "phase": "Succeeded"},
        ]
    )
    assert parse_results(text, ResultsFormat.JSON, LOSS) == [
        PastTrial({"lr": 0.1, "layers": 2}, {"loss": 0.3}),
        PastTrial({"lr": 0.2, "layers": 1}, {"loss": 0.4}),
    ]


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("a,b\n1,2\n", ResultsFormat.CSV, "no parameter columns: name them params.NAME"),
        ("params.lr,acc\n0.1,0.9\n", ResultsFormat.CSV, "no column for objective 'loss'"),
        ("params.lr,loss\n0.1,low\n", ResultsFormat.CSV, "row 1, column 'loss': 'low' is not"),
        ("{not json", ResultsFormat.JSON, "not a JSON file"),
        ('{"params": {}}', ResultsFormat.JSON, "must be a list of objects"),
    ],
)
def test_a_results_file_kubetune_cannot_use_says_why(
    text: str, fmt: ResultsFormat, expected: str
) -> None:
    with pytest.raises(InvalidResults, match=expected.replace("(", r"\(")):
        parse_results(text, fmt, LOSS)


def test_the_format_comes_from_the_file_name() -> None:
    assert ResultsFormat.of("past.CSV") is ResultsFormat.CSV
    assert ResultsFormat.of("past.json") is ResultsFormat.JSON
    assert ResultsFormat.of("past.txt") is None


# -- matching -----------------------------------------------------------------------------


def test_matching_keeps_what_fits_and_counts_the_rest_by_reason() -> None:
    past = [
        PastTrial({"lr": "0.01", "layers": "2", "opt": "adam", "extra": 1}, {"loss": 0.5}),
        PastTrial({"lr": 0.1, "layers": 3.0, "opt": "sgd", "momentum": 0.9}, {"loss": 0.2}),
        PastTrial({"lr": 5.0, "layers": 2, "opt": "adam"}, {"loss": 0.1}),  # lr above high
        PastTrial({"lr": 0.1, "layers": 2, "opt": "rmsprop"}, {"loss": 0.1}),  # not a choice
        PastTrial({"lr": "fast", "layers": 2, "opt": "adam"}, {"loss": 0.1}),
        PastTrial({"lr": 0.1, "opt": "adam"}, {"loss": 0.1}),  # no layers
        PastTrial({"lr": 0.1, "layers": 2, "opt": "sgd"}, {"loss": 0.1}),  # momentum is active
        PastTrial({"lr": 0.1, "layers": 2, "opt": "adam"}, {"acc": 0.1}),
    ]
    warm = match(past, SPACE, LOSS)
    assert [(t.index, dict(t.params)) for t in warm.trials] == [
        (-1, {"lr": 0.01, "layers": 2, "opt": "adam"}),
        (-2, {"lr": 0.1, "layers": 3, "opt": "sgd", "momentum": 0.9}),
    ]
    assert all(t.state is TrialState.COMPLETE for t in warm.trials)
    assert isinstance(warm.trials[1].params["layers"], int)
    assert warm.dropped == {
        "outside the search space": 2,
        "of the wrong type": 1,
        "missing a parameter": 2,
        "without a finite objective value": 1,
    }
    assert warm.describe() == (
        "2 warm-start trial(s), 6 dropped (2 missing a parameter, 1 of the wrong type, "
        "2 outside the search space, 1 without a finite objective value)"
    )


def test_an_inactive_parameter_of_a_past_trial_is_ignored_not_refused() -> None:
    past = [PastTrial({"lr": 0.1, "layers": 2, "opt": "adam", "momentum": 0.5}, {"loss": 1.0})]
    (trial,) = match(past, SPACE, LOSS).trials
    assert dict(trial.params) == {"lr": 0.1, "layers": 2, "opt": "adam"}


def test_a_source_sharing_no_parameter_is_named() -> None:
    assert unmatched_parameters(["lr", "dropout"], spec()) is None
    assert "none of which is a parameter of this study" in str(
        unmatched_parameters(["dropout"], spec())
    )
    assert unmatched_parameters([], spec()) == "holds no completed trial with parameters"


point = st.fixed_dictionaries(
    {
        "lr": st.floats(0.001, 1.0),
        "layers": st.integers(1, 4),
        "opt": st.sampled_from(["adam", "sgd"]),
        "momentum": st.floats(0.0, 1.0),
        "loss": st.floats(-1e6, 1e6),
    }
)


@settings(max_examples=50, deadline=None)
@given(st.lists(point, max_size=8))
def test_points_of_the_space_survive_a_csv_round_trip(points: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["loss", "params.lr", "params.layers", "params.opt", "params.momentum"])
    for p in points:
        momentum = repr(p["momentum"]) if p["opt"] == "sgd" else ""
        writer.writerow([repr(p["loss"]), repr(p["lr"]), p["layers"], p["opt"], momentum])
    warm = match(parse_results(out.getvalue(), ResultsFormat.CSV, LOSS), SPACE, LOSS)
    assert warm.dropped == {}
    assert [t.values["loss"] for t in warm.trials] == [p["loss"] for p in points]
    assert [t.params["lr"] for t in warm.trials] == [p["lr"] for p in points]
    assert [t.index for t in warm.trials] == [-(i + 1) for i in range(len(points))]


# -- the engine ---------------------------------------------------------------------------


class Recorder(Suggester):
    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space, Suggester.Settings(), seed=0)
        self.histories: list[History] = []

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        self.histories.append(history)
        return [Suggestion({"lr": 0.5, "layers": 1, "opt": "adam"}) for _ in range(n)]


def warm_planner(**overrides: Any) -> tuple[Planner, Recorder]:
    past = [PastTrial({"lr": 0.01, "layers": 2, "opt": "adam"}, {"loss": -100.0})] * 5
    warm = match(past, SPACE, LOSS)
    planner = Planner(spec(**overrides), "s", warm)
    recorder = Recorder(planner.space)
    planner.suggester = recorder
    return planner, recorder


def own(index: int, loss: float) -> TrialSnapshot:
    params = {"lr": 0.5, "layers": 1, "opt": "adam"}
    return TrialSnapshot(index, params, TrialPhase.SUCCEEDED, {"loss": loss})


def test_the_algorithm_sees_warm_trials_first_with_negative_indices() -> None:
    planner, recorder = warm_planner()
    decision = planner.decide([own(0, 1.0)])
    assert [t.index for t in decision.launch] == [1]  # the study's own numbering goes on
    history = recorder.histories[-1]
    assert [t.index for t in history.trials] == [-1, -2, -3, -4, -5, 0]
    assert len(history.completed) == 6


def test_warm_trials_do_not_count_against_the_budget_nor_become_the_best() -> None:
    planner, _ = warm_planner()
    assert [t.index for t in planner.decide([]).launch] == [0]
    done = [own(i, 1.0 + i) for i in range(3)]
    summary = planner.summarize(done)
    assert summary.total == 3 and summary.best_index == 0
    assert planner.decide(done).ending is not None
    assert planner.decide(done).ending.outcome is Outcome.BUDGET_EXHAUSTED  # type: ignore[union-attr]


def test_a_warm_trial_past_the_target_does_not_end_the_study() -> None:
    planner, _ = warm_planner(objective={"metric": "loss", "direction": "minimize", "target": 0})
    assert planner.decide([own(0, 1.0)]).ending is None
    assert planner.history([]).trials == WarmStart(planner.warm.trials).trials


# -- validation ---------------------------------------------------------------------------


def study_errors(**overrides: Any) -> list[str]:
    document = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "s"},
        "spec": spec().model_dump(by_alias=True, exclude_none=True, mode="json") | overrides,
    }
    try:
        parse_study(document)
    except InvalidStudy as error:
        return [str(e) for e in error.errors]
    return []


def test_warm_start_needs_a_source() -> None:
    (message,) = study_errors(warmStart={})
    assert (
        "spec.warmStart" in message
        and "warmStart needs 'studies', a 'file' or a 'configMap'" in message
    )


@pytest.mark.parametrize(
    "algorithm",
    [n for n, d in REGISTRY.items() if d.capabilities.population or d.capabilities.stops_trials],
)
def test_an_algorithm_with_its_own_schedule_or_population_refuses_warm_start(
    algorithm: str,
) -> None:
    problems = study_errors(
        warmStart={"studies": ["before"]},
        algorithm={"name": algorithm},
        budget={"maxTrials": 3, "resource": {"name": "epochs", "min": 1, "max": 9}},
    )
    assert any(
        p.startswith(f"spec.warmStart: {algorithm} keeps a schedule or a population")
        and p.endswith("choose one of grid, random, sobol, bayesopt, tpe")
        for p in problems
    ), problems


def test_a_model_based_algorithm_accepts_warm_start() -> None:
    assert study_errors(warmStart={"studies": ["before"], "file": "p.csv"}) == []


# -- algorithms ---------------------------------------------------------------------------


def _history(warm: int, own: int) -> History:
    def loss(x: float) -> float:
        return (x - 0.3) ** 2

    warm_trials = [
        TrialRecord(
            -(i + 1), {"x": (i + 0.5) / warm}, TrialState.COMPLETE, {"loss": loss(i / warm)}
        )
        for i in range(warm)
    ]
    own_trials = [
        TrialRecord(i, {"x": (i + 0.25) / own}, TrialState.COMPLETE, {"loss": loss(i / own)})
        for i in range(own)
    ]
    return History((*warm_trials, *own_trials), tuple(LOSS))


X_SPACE = SearchSpace.from_specs(
    spec(parameters=[{"name": "x", "type": "float", "low": 0, "high": 1}]).parameters
)


@pytest.mark.parametrize("algorithm", ["tpe", "bayesopt"])
def test_warm_trials_shorten_the_initial_design(algorithm: str) -> None:
    sobol = create("sobol", X_SPACE, {}, 0).suggest(_history(0, 0), 1)
    cold = create(algorithm, X_SPACE, {}, 0).suggest(_history(0, 0), 1)
    warm = create(algorithm, X_SPACE, {}, 0).suggest(_history(30, 0), 1)
    assert cold[0].params == sobol[0].params  # the initial design starts with Sobol points
    assert warm[0].params != sobol[0].params  # thirty known points: the model starts at once


def test_bayesopt_leaves_warm_trials_out_once_it_has_enough_of_its_own() -> None:
    def suggest(history: History) -> Any:
        return create("bayesopt", X_SPACE, {"warmStartTrials": 10}, 0).suggest(history, 1)

    assert suggest(_history(20, 10)) == suggest(_history(0, 10))
    assert suggest(_history(20, 9)) != suggest(_history(0, 9))
