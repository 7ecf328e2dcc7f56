"""A converted Katib Experiment, applied as it is, runs to completion on the cluster.

The node agent runs containers as local processes; ``workingDir`` pointing at the folder of
``quadratic.py`` stands in for the training image. The Experiment is the corpus's
``local-quadratic.yaml``, with Katib's StdOut collector and with its Push collector (the
program calls ``kubeflow.katib.report_metrics``, unchanged).
"""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from kubetune.convert import convert_experiment
from tests.integration.operator_fixtures import (
    REPO_ROOT,
    create_study,
    list_trials,
    wait_for_phase,
)

pytestmark = pytest.mark.integration

HERE = REPO_ROOT / "tests" / "unit" / "convert"


@pytest.mark.parametrize("report", ["print", "push"])
def test_a_converted_experiment_runs_on_the_cluster(
    operator, custom: client.CustomObjectsApi, namespace: str, report: str
) -> None:
    operator()
    document = yaml.safe_load((HERE / "corpus" / "local-quadratic.yaml").read_text())
    if report == "push":
        document["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "Push"}}
    job = document["spec"]["trialTemplate"]["trialSpec"]["spec"]
    job["template"]["spec"]["containers"][0]["command"].append(f"--report={report}")
    manifest = convert_experiment(document).manifest
    manifest["metadata"]["namespace"] = namespace
    for container in manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"]:
        container["workingDir"] = str(HERE)
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "local-quadratic", timeout=120)

    assert study["status"]["phase"] == "Succeeded", study["status"]
    trials = list_trials(custom, namespace, "local-quadratic")
    assert len(trials) == 4
    for trial in trials:
        x, steps = trial["spec"]["parameters"]["x"], trial["spec"]["parameters"]["steps"]
        expected = (x - 0.25) ** 2 + 1.0 / steps
        assert trial["status"]["values"]["loss"] == pytest.approx(expected)
