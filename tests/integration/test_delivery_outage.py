"""A trial whose end falls in an API outage is scored from its final report, never a partial one.

The API server is paused (SIGSTOP) after the trial delivered its step-10 value and before it
reports step 20 and exits. Its runner keeps delivering until the API answers (the default
delivery timeout), or, with a short one, gives up and leaves the final report in the
termination message that the node agent hands over like a kubelet: either way the trial
ends Succeeded with its step-20 value.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    dump,
    list_trials,
    study_manifest,
    wait_for_phase,
)
from tests.integration.test_cluster_outage import _apiserver_pid

pytestmark = pytest.mark.integration

PAUSE_SECONDS = 20
"""Longer than the runner's request timeout (10 s): its patches fail, not just wait."""
SCRIPT = Path(__file__).resolve().parent / "trial_scripts" / "two_phase.py"


def _manifest(name: str, go: Path, delivery_timeout: str | None) -> dict[str, Any]:
    manifest = study_manifest(name, max_trials=1, parallel=1)
    container = manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = [
        "kubetune-runner",
        "--",
        sys.executable,
        str(SCRIPT),
        "${params.x}",
        str(go),
    ]
    if delivery_timeout is not None:
        variable = "KUBETUNE_DELIVERY_TIMEOUT_SECONDS"
        container["env"] = [{"name": variable, "value": delivery_timeout}]
    return manifest


@pytest.mark.parametrize(
    "delivery_timeout",
    [None, "3"],
    ids=["delivered-when-the-api-answers", "handed-over-in-the-termination-message"],
)
def test_a_trial_ending_while_the_api_is_paused_succeeds_with_its_final_value(
    cluster: TestCluster,
    operator,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
    delivery_timeout: str | None,
) -> None:
    operator(leader_election=False)
    go = tmp_path / "go"
    create_study(custom, namespace, _manifest("paused", go, delivery_timeout))
    until(
        lambda: list_trials(custom, namespace, "paused"),
        lambda trials: bool(trials) and (trials[0].get("status") or {}).get("lastStep") == 10,
        "the step-10 report on the Trial",
        timeout=90,
    )

    apiserver = _apiserver_pid(cluster)
    os.kill(apiserver, signal.SIGSTOP)
    try:
        go.write_text("report step 20 and exit")  # the trial ends while the API cannot hear it
        time.sleep(PAUSE_SECONDS)  # the fault's length, not a synchronization
    finally:
        os.kill(apiserver, signal.SIGCONT)

    study = wait_for_phase(custom, namespace, "paused", timeout=180)
    (trial,) = list_trials(custom, namespace, "paused")
    x = trial["spec"]["parameters"]["x"]
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert trial["status"]["phase"] == "Succeeded", dump(trial)
    assert trial["status"]["values"]["loss"] == pytest.approx(x * x), dump(trial)
    assert trial["status"]["lastStep"] == 20
    assert trial["status"]["value"] == pytest.approx(x * x)
