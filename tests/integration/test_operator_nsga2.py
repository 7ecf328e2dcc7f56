"""nsga2 (and nsga3, on the same machinery) runs inside the operator on the real control
plane, with two objectives.

The path the unit tests cannot see: settings through the CRD, a multi-objective study's
metrics reported by the runner, trials still running while the next generation is bred
(three in parallel, population three), and no parameter set ever issued twice; and a
constrained study whose feasible front reaches the status and `kubetune results --cluster`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from kubetune.cli import main
from tests.cluster.fixtures import TestCluster
from tests.integration.operator_fixtures import (
    condition,
    create_study,
    dump,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parent / "trial_scripts" / "two_goals.py"
PARAMETERS = [
    {"name": "x", "type": "float", "low": -2.0, "high": 2.0},
    {"name": "y", "type": "int", "low": 0, "high": 20},  # ignored by the script
]


SETTINGS = {
    "nsga2": {"populationSize": 3, "mutationProbability": 0.5},
    "nsga3": {"populationSize": 3, "mutationProbability": 0.5, "referenceDivisions": 2},
}
"""Population three, so the study breeds while trials still run; nsga3's own setting too."""


@pytest.mark.parametrize("algorithm", sorted(SETTINGS))
def test_a_two_objective_study_completes_with_fresh_suggestions(
    operator, custom: client.CustomObjectsApi, namespace: str, algorithm: str
) -> None:
    operator()
    name = f"{algorithm}-two-goals"
    manifest = study_manifest(
        name, max_trials=10, parallel=3, algorithm=algorithm, parameters=PARAMETERS
    )
    spec = manifest["spec"]
    del spec["objective"]
    spec["objectives"] = [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "cost", "direction": "minimize"},
    ]
    spec["algorithm"]["settings"] = SETTINGS[algorithm]
    container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    script = container["command"].index(next(c for c in container["command"] if "quadratic" in c))
    container["command"][script] = str(SCRIPT)
    container["command"] += ["--seconds", "0.2"]
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, name, timeout=150)

    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    trials = list_trials(custom, namespace, name)
    assert len(trials) == 10
    points = [(t["spec"]["parameters"]["x"], t["spec"]["parameters"]["y"]) for t in trials]
    assert len(set(points)) == 10, points
    for trial in trials:
        x, y = trial["spec"]["parameters"]["x"], trial["spec"]["parameters"]["y"]
        assert -2.0 <= x <= 2.0 and isinstance(y, int) and 0 <= y <= 20
        values = trial["status"]["values"]
        assert values["loss"] == pytest.approx(x * x)
        assert values["cost"] == pytest.approx((x - 1) ** 2)


def test_a_constrained_two_objective_study_shows_its_feasible_front_in_status_and_results(
    operator,
    custom: client.CustomObjectsApi,
    namespace: str,
    cluster: TestCluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """cost = (x - 1)² <= 1 keeps x in [0, 2]: trials left of 0 are infeasible, and the
    front (x in [0, 1]) holds only feasible ones; hypervolume up to the given point."""
    operator()
    name = "nsga2-constrained"
    manifest = study_manifest(name, max_trials=8, parallel=2, algorithm="nsga2")
    spec = manifest["spec"]
    del spec["objective"]
    spec["objectives"] = [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "cost", "direction": "minimize"},
    ]
    spec["constraints"] = [{"metric": "cost", "max": 1.0}]
    spec["referencePoint"] = [4.0, 1.0]
    spec["initialTrials"] = [{"x": -1.5}, {"x": 0.5}]  # one infeasible, one on the front
    spec["algorithm"]["settings"] = {"populationSize": 4}
    container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    script = container["command"].index(next(c for c in container["command"] if "quadratic" in c))
    container["command"][script] = str(SCRIPT)
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, name, timeout=150)

    status = study["status"]
    assert status["phase"] == "Succeeded", dump(status)
    trials = {t["spec"]["index"]: t for t in list_trials(custom, namespace, name)}
    feasible = {i for i, t in trials.items() if t["status"]["values"]["cost"] <= 1.0}
    assert 0 not in feasible and 1 in feasible
    assert status["feasibleTrials"] == len(feasible)
    front = {member["index"] for member in status["paretoFront"]}
    assert 1 in front and front <= feasible
    assert status["paretoFrontSize"] == len(front)
    assert status["hypervolume"] > 0

    argv = ["results", name, "--cluster", "-n", namespace, "--kubeconfig", str(cluster.kubeconfig)]
    capsys.readouterr()
    assert main([*argv, "--format", "json", "--pareto"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["trial"] for row in rows} == front
    assert main([*argv, "--format", "json"]) == 0
    infeasible = {row["trial"]: row["infeasible"] for row in json.loads(capsys.readouterr().out)}
    assert infeasible[0] == "cost=6.25 breaks cost <= 1"
