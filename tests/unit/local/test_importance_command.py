"""`kubetune importance`: a table or JSON for a local study, and clear words when it has none."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.validation import parse_study

SPEC: dict[str, Any] = {
    "objective": {"metric": "loss", "direction": "minimize"},
    "parameters": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
        {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
        {"name": "width", "type": "int", "low": 8, "high": 64},
    ],
    "algorithm": {"name": "random"},
    "budget": {"maxTrials": 100, "parallelTrials": 1},
    "seed": 0,
    "trialTemplate": {
        "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["true"]}]}}}
    },
}


def save_study(
    state: Path,
    trials: list[tuple[dict[str, Any], TrialPhase, float | dict[str, float] | None]],
    **spec: Any,
) -> None:
    """A local study's files as `kubetune run` leaves them, without running processes."""
    study = parse_study(
        {
            "apiVersion": "kubetune.dev/v1alpha1",
            "kind": "TuningStudy",
            "metadata": {"name": "s"},
            "spec": {**SPEC, **spec},
        }
    )
    store = StudyStore(state / "s")
    store.save_spec({"manifest": study.to_manifest(), "elapsedSeconds": 1.0})
    for index, (params, phase, values) in enumerate(trials):
        store.save(LocalTrial(index, params, phase=phase))
        if values is not None:
            reported = values if isinstance(values, dict) else {"loss": values}
            line = json.dumps({"values": reported}) + "\n"  # NaN is written as NaN
            (store.trial_dir(index) / "metrics.jsonl").write_text(line)


def lr_driven_trials(
    count: int,
) -> list[tuple[dict[str, Any], TrialPhase, float | dict[str, float] | None]]:
    rng = np.random.default_rng(0)
    trials: list[tuple[dict[str, Any], TrialPhase, float | dict[str, float] | None]] = []
    for _ in range(count):
        params = {
            "lr": float(10 ** rng.uniform(-4, 0)),
            "optimizer": str(rng.choice(["sgd", "adam"])),
            "width": int(rng.integers(8, 65)),
        }
        loss = (np.log10(params["lr"]) + 2) ** 2 + (0.3 if params["optimizer"] == "sgd" else 0.0)
        trials.append((params, TrialPhase.SUCCEEDED, float(loss)))
    return trials


def run(state: Path, *extra: str) -> int:
    return main(["importance", "s", "--state-dir", str(state), *extra])


@pytest.mark.parametrize("method", ["ped-anova", "fanova"])
def test_json_lists_the_parameters_most_important_first(
    tmp_path: Path, capsys: Any, method: str
) -> None:
    save_study(tmp_path, lr_driven_trials(80))
    assert run(tmp_path, "--format", "json", "--method", method) == 0
    report = json.loads(capsys.readouterr().out)
    (objective,) = report["objectives"]
    assert report["method"] == method and objective["metric"] == "loss"
    assert objective["trialsUsed"] == 80 and objective["reason"] is None
    names = [p["parameter"] for p in objective["importances"]]
    assert names[0] == "lr" and sorted(names) == ["lr", "optimizer", "width"]
    assert sum(p["importance"] for p in objective["importances"]) == pytest.approx(1.0)


def test_the_table_names_every_parameter_and_counts_what_was_left_out(
    tmp_path: Path, capsys: Any
) -> None:
    trials = lr_driven_trials(40)
    trials.append(({"lr": 0.1, "optimizer": "sgd", "width": 8}, TrialPhase.SUCCEEDED, None))
    trials.append(({"lr": 0.2, "optimizer": "sgd", "width": 9}, TrialPhase.FAILED, None))
    trials.append(({"lr": 0.3, "optimizer": "adam", "width": 10}, TrialPhase.SUCCEEDED, math.nan))
    save_study(tmp_path, trials)
    assert run(tmp_path, "--method", "fanova") == 0
    out = capsys.readouterr().out
    assert "s: 43 trials (1 failed, 42 succeeded); method fanova" in out
    assert "loss (minimize): 40 trials" in out
    assert "left out: 2 completed trial(s) without a finite value" in out
    assert "single parameters explain" in out
    assert all(name in out for name in ("lr", "optimizer", "width"))


def test_a_multi_objective_study_gets_a_table_per_objective(tmp_path: Path, capsys: Any) -> None:
    trials: list[tuple[dict[str, Any], TrialPhase, float | dict[str, float] | None]] = []
    for params, phase, loss in lr_driven_trials(40):
        assert isinstance(loss, float)
        speed = 100.0 * params["width"]  # only the width decides the throughput
        trials.append((params, phase, {"loss": loss, "samples_per_s": speed}))
    objectives = [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "samples_per_s", "direction": "maximize"},
    ]
    save_study(tmp_path, trials, objective=None, objectives=objectives)
    assert run(tmp_path, "--format", "json") == 0
    loss, speed = json.loads(capsys.readouterr().out)["objectives"]
    assert (loss["metric"], speed["metric"]) == ("loss", "samples_per_s")
    assert loss["importances"][0]["parameter"] == "lr"
    assert speed["importances"][0]["parameter"] == "width"


def test_a_study_that_does_not_exist_is_named(tmp_path: Path, capsys: Any) -> None:
    assert run(tmp_path) == 1
    assert f"error: no local study 's' under {tmp_path}" in capsys.readouterr().err


def test_an_empty_study_says_so(tmp_path: Path, capsys: Any) -> None:
    save_study(tmp_path, [])
    assert run(tmp_path) == 1
    out = capsys.readouterr().out
    assert "s: 0 trials (none)" in out
    assert "no completed trial has a finite value of 'loss' yet" in out


def test_a_study_of_failed_trials_says_so(tmp_path: Path, capsys: Any) -> None:
    params = {"lr": 0.1, "optimizer": "sgd", "width": 8}
    save_study(tmp_path, [(params, TrialPhase.FAILED, None)] * 3)
    assert run(tmp_path, "--format", "json") == 1
    (objective,) = json.loads(capsys.readouterr().out)["objectives"]
    assert objective["importances"] == [] and objective["trialsUsed"] == 0
    assert objective["reason"] == "no completed trial has a finite value of 'loss' yet"
