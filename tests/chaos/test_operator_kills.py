"""Operator SIGKILLed every few seconds during a 48-trial study with 6 parallel trials.

Invariants, checked against the trial programs' own record of what they ran and reported:
exactly maxTrials Trials with indices 0..N-1, no duplicate parameter set, every Succeeded
Trial's value equal to the last value its program reported, and no program run twice for
the same index. The operator is killed only after some progress since its last start
(waiting on a condition, never a fixed sleep), at varying moments.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_TRIALS = 48
PARALLEL = 6
KILLS = 10
SCRIPT = Path(__file__).resolve().parent / "recorded_trial.py"


def _progress(custom: client.CustomObjectsApi, namespace: str) -> tuple[str, int, int]:
    """(phase, trials created, trials finished) of the study."""
    status = get_study(custom, namespace, "chaos").get("status") or {}
    trials = list_trials(custom, namespace, "chaos")
    active = (None, "Pending", "Running")
    finished = sum(1 for t in trials if (t.get("status") or {}).get("phase") not in active)
    return status.get("phase", ""), len(trials), finished


def test_sigkilled_operator_loses_duplicates_and_reruns_nothing(
    operator, custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth"
    truth.mkdir()
    manifest = study_manifest("chaos", max_trials=MAX_TRIALS, parallel=PARALLEL)
    container = manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = [
        "kubetune-runner",
        "--",
        sys.executable,
        str(SCRIPT),
        "${params.x}",
        str(truth),
        "${trial}",
        "1",
    ]
    handle = operator(leader_election=False)
    create_study(custom, namespace, manifest)
    kills = 0
    while kills < KILLS and _progress(custom, namespace)[0] != "Succeeded":
        before = _progress(custom, namespace)
        until(
            lambda: _progress(custom, namespace),
            lambda now, before=before: now != before,
            "progress since the operator started",
            timeout=90,
        )
        time.sleep(kills % 4 * 0.5)  # a varying moment in the operator's life, not a wait
        handle.kill()
        kills += 1
        handle.start()

    study = wait_for_phase(custom, namespace, "chaos", timeout=240)
    trials = list_trials(custom, namespace, "chaos")
    assert kills >= 5, f"only {kills} kills: the study ended too soon to test anything"
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == list(range(MAX_TRIALS))
    params = [tuple(sorted(t["spec"]["parameters"].items())) for t in trials]
    assert len(set(params)) == MAX_TRIALS, "a parameter set was suggested twice"
    for trial in trials:
        name = trial["metadata"]["name"]
        assert trial["status"]["phase"] == "Succeeded", dump(trial)
        runs = (truth / f"{name}.runs").read_text().split()
        assert len(runs) == 1, f"{name} ran {len(runs)} times"
        reported = (truth / f"{name}.reported").read_text().split()
        assert trial["status"]["values"]["loss"] == float(reported[-1]), dump(trial)
