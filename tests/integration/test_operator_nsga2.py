"""nsga2 runs inside the operator on the real control plane, with two objectives.

The path the unit tests cannot see: settings through the CRD, a multi-objective study's
metrics reported by the runner, trials still running while the next generation is bred
(three in parallel, population three), and no parameter set ever issued twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

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


def test_a_two_objective_nsga2_study_completes_with_fresh_suggestions(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    manifest = study_manifest(
        "nsga2-two-goals", max_trials=10, parallel=3, algorithm="nsga2", parameters=PARAMETERS
    )
    spec = manifest["spec"]
    del spec["objective"]
    spec["objectives"] = [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "cost", "direction": "minimize"},
    ]
    spec["algorithm"]["settings"] = {"populationSize": 3, "mutationProbability": 0.5}
    container = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    script = container["command"].index(next(c for c in container["command"] if "quadratic" in c))
    container["command"][script] = str(SCRIPT)
    container["command"] += ["--seconds", "0.2"]
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "nsga2-two-goals", timeout=150)

    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    trials = list_trials(custom, namespace, "nsga2-two-goals")
    assert len(trials) == 10
    points = [(t["spec"]["parameters"]["x"], t["spec"]["parameters"]["y"]) for t in trials]
    assert len(set(points)) == 10, points
    for trial in trials:
        x, y = trial["spec"]["parameters"]["x"], trial["spec"]["parameters"]["y"]
        assert -2.0 <= x <= 2.0 and isinstance(y, int) and 0 <= y <= 20
        values = trial["status"]["values"]
        assert values["loss"] == pytest.approx(x * x)
        assert values["cost"] == pytest.approx((x - 1) ** 2)
