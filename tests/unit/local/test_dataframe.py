"""``kubetune results --format optuna-csv``: the columns of Optuna's trials_dataframe(), in
number order, readable back as a warm-start file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.local.dataframe import dataframe_csv
from kubetune.local.progress import render_results
from kubetune.record import RecordedTrial, study_record
from kubetune.space import SearchSpace
from kubetune.warmstart import ResultsFormat, match, parse_results

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def spec(objectives: list[dict[str, Any]]) -> StudySpec:
    key = {"objective": objectives[0]} if len(objectives) == 1 else {"objectives": objectives}
    return StudySpec.model_validate(
        key
        | {
            "metrics": ["ms"],
            "parameters": [
                {"name": "lr", "type": "float", "low": 0.0, "high": 1.0},
                {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
            ],
            "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        }
    )


def trial(index: int, phase: TrialPhase, **values: float) -> RecordedTrial:
    return RecordedTrial(
        index=index,
        params={"opt": "sgd", "lr": index / 10},
        phase=phase,
        attributes={"generation": 1} if index == 1 else {},
        reason="Completed" if phase is TrialPhase.SUCCEEDED else None,
        values=values,
        start_time=START,
        completion_time=START + timedelta(seconds=62.5) if phase.is_finished() else None,
    )


LOSS = [{"metric": "loss", "direction": "minimize"}]
TRIALS = [
    trial(0, TrialPhase.SUCCEEDED, loss=0.5, ms=3.0),
    trial(1, TrialPhase.SUCCEEDED, loss=0.25),
    trial(2, TrialPhase.PRUNED, loss=0.9),
    trial(3, TrialPhase.FAILED),
    trial(4, TrialPhase.STOPPED),
    trial(5, TrialPhase.RUNNING),
    trial(6, TrialPhase.PENDING),
]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_columns_and_states_are_optunas() -> None:
    record = study_record("s", spec(LOSS), TRIALS, "here")
    found = rows(str(render_results(record, "optuna-csv", None)))
    assert list(found[0]) == [
        "number",
        "value",
        "datetime_start",
        "datetime_complete",
        "duration",
        "params_lr",
        "params_opt",
        "user_attrs_generation",
        "state",
        "metrics_ms",
        "reason",
    ]
    assert [r["number"] for r in found] == [str(i) for i in range(7)]
    assert [r["state"] for r in found] == [
        "COMPLETE",
        "COMPLETE",
        "PRUNED",
        "FAIL",
        "PRUNED",
        "RUNNING",
        "WAITING",
    ]
    first = found[0]
    assert (first["value"], first["params_lr"], first["params_opt"]) == ("0.5", "0.0", "sgd")
    assert first["datetime_start"] == "2026-01-02 03:04:05.000000"
    assert first["datetime_complete"] == "2026-01-02 03:05:07.500000"
    assert first["duration"] == "0 days 00:01:02.500000"
    assert first["metrics_ms"] == "3.0"
    assert found[1]["user_attrs_generation"] == "1"
    assert found[5]["duration"] == "" and found[5]["value"] == ""


def test_several_objectives_are_values_i_in_objective_order() -> None:
    two = [*LOSS, {"metric": "ms", "direction": "minimize"}]
    record = study_record("s", spec(two), TRIALS[:2], "here")
    found = rows(dataframe_csv(record))
    assert list(found[0])[:3] == ["number", "values_0", "values_1"]
    assert [(r["values_0"], r["values_1"]) for r in found] == [("0.5", "3.0"), ("0.25", "")]


def test_top_keeps_the_best_trials_in_number_order() -> None:
    record = study_record("s", spec(LOSS), TRIALS, "here")
    assert [r["number"] for r in rows(dataframe_csv(record, limit=2))] == ["0", "1"]


def test_the_csv_reads_back_as_a_warm_start_file() -> None:
    study = spec(LOSS)
    text = dataframe_csv(study_record("s", study, TRIALS, "here"))
    objectives = study.objective_list
    warm = match(
        parse_results(text, ResultsFormat.CSV, objectives),
        SearchSpace.from_specs(study.parameters),
        objectives,
    )
    assert [dict(t.params) for t in warm.trials] == [
        {"lr": 0.0, "opt": "sgd"},
        {"lr": 0.1, "opt": "sgd"},
    ]
    assert warm.dropped == {}


def optuna_columns(directions: list[str], params: list[str]) -> list[str]:
    """The columns of Optuna's own ``study.trials_dataframe()`` for trials like ``TRIALS``.

    Optuna builds them before it hands them to pandas (which the test environment lacks);
    its private helpers are called so that a change in Optuna's layout fails this test.
    """
    optuna = pytest.importorskip("optuna")
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    from optuna.study._dataframe import _create_records_and_aggregate_column, _flatten_columns
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=directions)
    distributions = {
        name: CategoricalDistribution(["adam", "sgd"]) if name == "opt" else FloatDistribution(0, 1)
        for name in params
    }
    values = [0.5] * len(directions)
    for i, state in enumerate([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]):
        study.add_trial(
            create_trial(
                state=state,
                values=values if state is TrialState.COMPLETE else None,
                params={name: "sgd" if name == "opt" else 0.5 for name in params},
                distributions=distributions,
                user_attrs={"generation": 1} if i == 0 else {},
            )
        )
    study.ask()  # a RUNNING trial
    attrs = ("number", "value", "datetime_start", "datetime_complete", "duration")
    attrs += ("params", "user_attrs", "system_attrs", "state")
    if len(directions) > 1:
        attrs = tuple("values" if a == "value" else a for a in attrs)
    _, columns = _create_records_and_aggregate_column(study, attrs)
    return _flatten_columns(columns)


@pytest.mark.parametrize("objectives", [LOSS, [*LOSS, {"metric": "ms", "direction": "minimize"}]])
def test_the_columns_are_those_of_optunas_own_trials_dataframe(
    objectives: list[dict[str, Any]],
) -> None:
    study = spec(objectives)
    record = study_record(
        "s", study.model_copy(update={"parameters": study.parameters[::-1]}), TRIALS, "here"
    )
    ours = rows(dataframe_csv(record))[0]
    kubetune_only = [c for c in ours if c.startswith("metrics_") or c == "reason"]
    directions = [o.direction.value for o in study.objective_list]

    assert [c for c in ours if c not in kubetune_only] == optuna_columns(directions, ["opt", "lr"])
    assert list(ours)[-len(kubetune_only) :] == kubetune_only  # what Optuna lacks comes last
