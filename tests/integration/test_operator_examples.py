"""examples/branin.yaml, applied as it is, runs to completion on the cluster.

The node agent runs containers as local processes; `workingDir` pointing at examples/
stands in for an image that holds branin.py in its working directory.
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from tests.integration.operator_fixtures import (
    REPO_ROOT,
    condition,
    create_study,
    list_trials,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def test_branin_example_runs_to_completion(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    manifest = yaml.safe_load((REPO_ROOT / "examples" / "branin.yaml").read_text())
    manifest["spec"]["budget"]["maxTrials"] = 12  # the example's 48 would take minutes here
    for container in manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"]:
        container["workingDir"] = str(REPO_ROOT / "examples")
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "branin", timeout=120)

    assert study["status"]["phase"] == "Succeeded", study["status"]
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    assert study["status"]["trials"]["succeeded"] == 12
    trials = list_trials(custom, namespace, "branin")
    assert min(t["status"]["values"]["loss"] for t in trials) == study["status"]["bestValue"]
    assert study["status"]["bestValue"] >= 0.397887  # Branin's global minimum
