"""A constrained multi-objective study with each algorithm that models both (nsga2, tpe, …),
run to the end by the local backend: the
front holds only feasible trials, a trial that never reports a constraint metric is
infeasible with the reason (the study still succeeds), and `kubetune results --pareto` lists
only the front."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.algorithms import REGISTRY, Family
from kubetune.cli import main

MODELLING = [
    name
    for name, d in REGISTRY.items()
    if d.capabilities.several_objectives
    and d.capabilities.constraints
    and d.family is not Family.SIMPLE
]
"""The algorithms that search for a constrained front (not random, sobol, grid)."""

SETTINGS: dict[str, dict[str, Any]] = {
    "nsga2": {"populationSize": 4},
    "nsga3": {"populationSize": 4},
    "tpe": {"nStartupTrials": 4},
}
"""Settings that let a 10-trial study go past the initial design."""

# a = x, b = (x - 0.6)^2: x in [0, 0.6] is the front. latency = 3x is limited to 2.4 (x <= 0.8);
# above x = 0.95 the program forgets to report latency at all.
REPORT = (
    "import sys; from kubetune_runner import report; x = float(sys.argv[1]); "
    "extra = {} if x > 0.95 else {'latency': 3 * x}; report(a=x, b=(x - 0.6) ** 2, **extra)"
)


def study(algorithm: str) -> dict[str, Any]:
    command = ["python", "-c", REPORT, "${params.x}"]
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "front"},
        "spec": {
            "objectives": [
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
            ],
            "metrics": ["latency"],
            "constraints": [{"metric": "latency", "max": 2.4}],
            "referencePoint": [1.0, 1.0],
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            # x = 0 dominates nothing it does not; x = 0.99 is infeasible (no latency).
            "initialTrials": [{"x": 0.99}, {"x": 0.9}, {"x": 0.3}],
            "algorithm": {"name": algorithm, "settings": SETTINGS.get(algorithm, {})},
            "budget": {"maxTrials": 10, "parallelTrials": 2},
            "seed": 1,
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": command}]}}}
            },
        },
    }


@pytest.fixture(scope="module", params=MODELLING)
def run(tmp_path_factory: pytest.TempPathFactory, request: Any) -> tuple[Path, int, str]:
    root = tmp_path_factory.mktemp("front")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study(request.param)))
    patch = pytest.MonkeyPatch()
    out = io.StringIO()
    patch.setattr("sys.stdout", out)
    try:
        code = main(["run", str(path), "--state-dir", str(root / "state")])
    finally:
        patch.undo()
    return root / "state", code, out.getvalue()


def results(state: Path, capsys: Any, *extra: str) -> list[dict[str, Any]]:
    assert main(["results", "front", "--state-dir", str(state), "--format", "json", *extra]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_the_study_succeeds_and_prints_its_feasible_front(run: tuple[Path, int, str]) -> None:
    _, code, printed = run
    assert code == 0
    assert "Pareto front (" in printed and "feasible, hypervolume " in printed
    front = printed.split("Pareto front (")[1]
    assert "front-0:" not in front and "front-1:" not in front  # infeasible


def test_only_feasible_trials_are_on_the_front_and_the_reason_is_shown(
    run: tuple[Path, int, str], capsys: Any
) -> None:
    rows = results(run[0], capsys)
    assert len(rows) == 10 and all(row["phase"] == "Succeeded" for row in rows)
    by_trial = {row["trial"]: row for row in rows}
    assert "'latency' was never reported" in by_trial[0]["infeasible"]
    assert by_trial[1]["infeasible"] == "latency=2.7 breaks latency <= 2.4"
    assert by_trial[2]["infeasible"] is None and by_trial[2]["pareto"]
    for row in rows:
        if row["pareto"]:
            assert row["infeasible"] is None and row["latency"] <= 2.4


def test_results_pareto_lists_only_the_front(run: tuple[Path, int, str], capsys: Any) -> None:
    everything = results(run[0], capsys)
    front = results(run[0], capsys, "--pareto")
    assert front and all(row["pareto"] for row in front)
    assert {row["trial"] for row in front} == {row["trial"] for row in everything if row["pareto"]}
    # No feasible trial beats a front member on both objectives (the true front of a = x,
    # b = (x - 0.6)^2 is x <= 0.6; a trial beyond stays on it only while nothing near 0.6
    # beats it, which depends on what the algorithm happened to try).
    feasible = [row for row in everything if row["infeasible"] is None]
    for row in front:
        assert not any(
            other["a"] <= row["a"]
            and other["b"] <= row["b"]
            and (other["a"], other["b"]) != (row["a"], row["b"])
            for other in feasible
        )
