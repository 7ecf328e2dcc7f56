"""The chaos suite's shared study and its invariants, checked against the programs' own record.

Every chaos test runs a study whose trials execute `recorded_trial.py` under
`kubetune-runner`: each run appends a line to `<truth>/<trial>.runs` and each reported value
to `<truth>/<trial>.reported`. After the fault, `assert_nothing_lost` checks what must hold
whatever was injected:

- the study Succeeded with exactly maxTrials Trials, indices 0..N-1, no parameter set twice;
- every Trial Succeeded with the last value its program reported;
- no program ran twice for an index, except the reruns the operator counted in
  `status.retries` (a lost pod runs again as the same trial): runs == 1 + retries.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from kubernetes import client

from tests.integration.operator_fixtures import (
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

SCRIPT = Path(__file__).resolve().parent / "recorded_trial.py"
ACTIVE_PHASES = (None, "Pending", "Running")


def recorded_study(
    name: str, truth: Path, *, max_trials: int, parallel: int, seconds: float
) -> dict[str, Any]:
    """A study whose trials record their runs and reports under `truth` (created here)."""
    truth.mkdir(parents=True, exist_ok=True)
    manifest = study_manifest(name, max_trials=max_trials, parallel=parallel)
    container = manifest["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = [
        "kubetune-runner",
        "--",
        sys.executable,
        str(SCRIPT),
        "${params.x}",
        str(truth),
        "${trial}",
        str(seconds),
    ]
    return manifest


def progress(custom: client.CustomObjectsApi, namespace: str, name: str) -> tuple[str, int, int]:
    """(phase, trials created, trials finished) of the study: what a fault waits on."""
    status = get_study(custom, namespace, name).get("status") or {}
    trials = list_trials(custom, namespace, name)
    finished = sum(1 for t in trials if (t.get("status") or {}).get("phase") not in ACTIVE_PHASES)
    return status.get("phase", ""), len(trials), finished


def running(custom: client.CustomObjectsApi, namespace: str, name: str) -> list[str]:
    """Names of the study's Trials that are Running now."""
    trials = list_trials(custom, namespace, name)
    return [
        t["metadata"]["name"] for t in trials if (t.get("status") or {}).get("phase") == "Running"
    ]


def runs_of(truth: Path, trial: str) -> int:
    path = truth / f"{trial}.runs"
    return len(path.read_text().split()) if path.exists() else 0


def assert_nothing_lost(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    truth: Path,
    max_trials: int,
    timeout: float = 300,
) -> list[dict[str, Any]]:
    """Wait for the study to end, check every invariant above; returns the Trials."""
    study = wait_for_phase(custom, namespace, name, timeout=timeout)
    trials = list_trials(custom, namespace, name)
    for trial in trials:  # a trial's own verdict first: it says most about a failure
        assert (trial.get("status") or {}).get("phase") == "Succeeded", dump(trial)
    assert study["status"]["phase"] == "Succeeded", dump(study)
    assert [t["spec"]["index"] for t in trials] == list(range(max_trials))
    params = [tuple(sorted(t["spec"]["parameters"].items())) for t in trials]
    assert len(set(params)) == max_trials, "a parameter set was suggested twice"
    for trial in trials:
        trial_name = trial["metadata"]["name"]
        retries = int(trial["status"].get("retries") or 0)
        runs = runs_of(truth, trial_name)
        assert runs == 1 + retries, f"{trial_name} ran {runs} times, {retries} retries counted"
        reported = (truth / f"{trial_name}.reported").read_text().split()
        assert trial["status"]["values"]["loss"] == float(reported[-1]), dump(trial)
    return trials
