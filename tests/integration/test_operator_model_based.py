"""The model-based suggesters run inside the operator on the real control plane.

The manifest names the algorithm and its settings (camelCase, as a user writes them); the
operator rebuilds the suggester from the Trials on every reconcile, with trials still
running, so this is the path the unit tests cannot see: settings through the CRD, pending
trials from the cluster, and no parameter set ever issued twice.
"""

from __future__ import annotations

from typing import Any

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

# y is a second coordinate the trial script ignores, so cmaes runs as a real CMA-ES (its
# one-dimensional fallback is unit-tested) and every model sees a flat direction.
PARAMETERS = [
    {"name": "x", "type": "float", "low": -2.0, "high": 2.0},
    {"name": "y", "type": "int", "low": 0, "high": 20},
]


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("bayesopt", {"nInitialTrials": 3, "eiIncumbent": "joint"}),
        ("tpe", {"nStartupTrials": 3}),
        ("cmaes", {"populationSize": 3, "sigma0": 0.3}),
    ],
)
def test_a_model_based_study_completes_with_fresh_suggestions(
    operator, custom: client.CustomObjectsApi, namespace: str, name: str, settings: dict[str, Any]
) -> None:
    operator()
    manifest = study_manifest(
        f"model-{name}",
        max_trials=10,
        parallel=3,
        algorithm=name,
        parameters=PARAMETERS,
        script_args=["--seconds", "0.2"],
    )
    manifest["spec"]["algorithm"]["settings"] = settings
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, f"model-{name}", timeout=150)

    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    trials = list_trials(custom, namespace, f"model-{name}")
    assert len(trials) == 10
    points = [(t["spec"]["parameters"]["x"], t["spec"]["parameters"]["y"]) for t in trials]
    assert len(set(points)) == 10, points
    for trial in trials:
        x, y = trial["spec"]["parameters"]["x"], trial["spec"]["parameters"]["y"]
        assert -2.0 <= x <= 2.0 and isinstance(y, int) and 0 <= y <= 20
        assert trial["status"]["values"]["loss"] == pytest.approx(x * x)
