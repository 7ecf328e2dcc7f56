"""The same trials through both backends: the environment and the verdict must be identical.

Each case is one trial's story — what it reports, prints and exits with, and whether it was
asked to stop. The local side runs it for real: ``processes.launch`` starts a program that
dumps its environment, reports through the runner's local transport, prints and exits; then
``LocalStudy`` reaps it. The cluster side renders the Job (``objects.render_job``) and
derives the Trial's phase (``trial_status.derive``) from the Job, pod and Trial status the
cluster would show for the same story. Both must agree exactly.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubetune.api.reasons import TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.kube import objects, trial_status
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.local.processes import launch
from kubetune.local.store import LocalTrial
from kubetune.validation import parse_study

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
PARAMS = {"lr": 0.01, "opt": "adam"}
TRANSPORT_VARIABLES = {"KUBETUNE_NAMESPACE", "KUBETUNE_LOCAL_DIR"}
"""Each backend's own channel to the runner; every other KUBETUNE_* variable must match."""

PROGRAM = """
import json, math, os, sys
from kubetune_runner._local import LocalTransport
story = json.loads(sys.argv[1])
json.dump(dict(os.environ), open(os.path.join(os.environ["KUBETUNE_LOCAL_DIR"], "env.json"), "w"))
if story["values"]:
    values = {k: float(v) for k, v in story["values"].items()}
    LocalTransport(os.environ["KUBETUNE_LOCAL_DIR"]).record(1, values)
sys.stdout.write(story["output"])
sys.exit(story["exit_code"])
"""


@dataclass(frozen=True)
class Story:
    exit_code: int = 0
    values: dict[str, Any] = field(default_factory=dict)
    """What the trial reported; "nan" for a NaN."""
    output: str = ""
    stop: str | None = None
    """None, "pruned" or "stopped"."""
    budget: float | None = None


CASES = {
    "success": Story(values={"loss": 0.25}, output="done\n"),
    "exit 1": Story(
        exit_code=1,
        output="epoch 1\nTraceback (most recent call last):\n  File 'x'\nValueError: bad lr\n\n",
    ),
    "missing metric": Story(values={"other": 1.0}, output="finished\n"),
    "NaN objective": Story(values={"loss": "nan"}),
    "pruned": Story(exit_code=0, values={"loss": 3.0}, stop="pruned"),
    "stopped": Story(exit_code=143, stop="stopped", output="terminated\n"),
    "budget 27.0": Story(values={"loss": 0.5}, budget=27.0),
}


def manifest(budget: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
            {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
        ],
        "algorithm": {"name": "random"},
        "budget": {"maxTrials": 4},
        "trialTemplate": {
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "image": "train:1",
                                "command": [sys.executable, "-c", PROGRAM],
                                "args": ["${params.opt}"],
                                "env": [{"name": "EPOCHS", "value": "x"}],
                            }
                        ]
                    }
                }
            }
        },
    }
    if budget:
        spec["algorithm"] = {"name": "hyperband"}
        spec["budget"]["resource"] = {"name": "epochs", "min": 1, "max": 81}
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "s"},
        "spec": spec,
    }


STOP_REASON = {"pruned": "pruned by median at step 1", "stopped": "the study ended: GoalReached"}


def run_locally(story: Story, tmp_path: Path) -> tuple[dict[str, str], tuple[Any, ...]]:
    study = LocalStudy(
        parse_study(manifest(story.budget is not None)),
        LocalOptions(state_dir=tmp_path / "state", workdir=tmp_path),
    )
    study.open()
    trial = LocalTrial(0, dict(PARAMS), story.budget)
    if story.stop is not None:
        trial.stop_reason, trial.stop_pruned = STOP_REASON[story.stop], story.stop == "pruned"
    study.trials[0] = trial
    directory = study.store.trial_dir(0)
    directory.mkdir(parents=True)
    container = study.study.spec.trial_template.container()
    container = {**container, "args": [json.dumps(story.__dict__)]}
    study.processes[0] = launch(
        container=container,
        trial_name="s-0",
        index=0,
        params=PARAMS,
        budget=story.budget,
        objectives=study.study.spec.objective_list,
        trial_dir=directory,
        workdir=tmp_path,
        gpus=[],
    )
    while study.processes:
        study._reap(time.time())
        time.sleep(0.01)
    env = json.loads((directory / "env.json").read_text())
    return _ours(env), (trial.phase, trial.reason, trial.message)


def run_on_a_cluster(story: Story) -> tuple[dict[str, str], tuple[Any, ...]]:
    spec = parse_study(manifest(story.budget is not None)).spec
    finite = {k: float(v) for k, v in story.values.items() if v != "nan"}
    status: dict[str, Any] = {"phase": "Running", "values": finite}
    not_finite = {k: v for k, v in story.values.items() if v == "nan"}
    if not_finite:
        status["nonFiniteValues"] = not_finite
    trial: dict[str, Any] = {
        "metadata": {"name": "s-0", "namespace": "ns", "uid": "u", "annotations": {}},
        "spec": {"study": "s", "index": 0, "parameters": dict(PARAMS)},
        "status": status,
    }
    if story.budget is not None:
        trial["spec"]["budget"] = story.budget
    if story.stop is not None:
        trial["spec"].update(stop=True, stopReason=STOP_REASON[story.stop])
        pruned = "true" if story.stop == "pruned" else "false"
        trial["metadata"]["annotations"][objects.PRUNED_ANNOTATION] = pruned
    job = objects.render_job(spec, trial, "study-uid")
    primary = job["spec"]["template"]["spec"]["containers"][0]
    env = {var["name"]: var["value"] for var in primary["env"]}
    condition = "Complete" if story.exit_code == 0 else "Failed"
    job["status"] = {"conditions": [{"type": condition, "status": "True", "reason": "X"}]}
    terminated = {"exitCode": story.exit_code, "reason": "Error" if story.exit_code else ""}
    if story.exit_code and primary["terminationMessagePolicy"] == "FallbackToLogsOnError":
        terminated["message"] = story.output  # the kubelet keeps the end of the log
    pod = {
        "metadata": {"name": "s-0-abc", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"nodeName": "n"},
        "status": {
            "phase": "Succeeded" if story.exit_code == 0 else "Failed",
            "containerStatuses": [{"name": "train", "state": {"terminated": terminated}}],
        },
    }
    seen = trial_status.derive(trial, job, [pod], ["loss"], "nvidia.com/gpu", NOW)
    return _ours(env), (seen.phase, seen.reason, seen.message)


def _ours(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in env.items() if k.startswith("KUBETUNE_") and k not in TRANSPORT_VARIABLES
    }


@pytest.mark.parametrize("case", list(CASES))
def test_both_backends_give_a_trial_the_same_environment_and_verdict(
    case: str, tmp_path: Path
) -> None:
    story = CASES[case]
    local_env, local_verdict = run_locally(story, tmp_path)
    cluster_env, cluster_verdict = run_on_a_cluster(story)
    assert local_env == cluster_env
    assert local_verdict == cluster_verdict
    assert local_verdict[:2] == EXPECTED[case]


EXPECTED = {
    "success": (TrialPhase.SUCCEEDED, TrialReason.COMPLETED),
    "exit 1": (TrialPhase.FAILED, TrialReason.ERROR),
    "missing metric": (TrialPhase.FAILED, TrialReason.METRICS_MISSING),
    "NaN objective": (TrialPhase.FAILED, TrialReason.OBJECTIVE_NOT_FINITE),
    "pruned": (TrialPhase.PRUNED, TrialReason.EARLY_STOPPED),
    "stopped": (TrialPhase.STOPPED, TrialReason.STUDY_ENDED),
    "budget 27.0": (TrialPhase.SUCCEEDED, TrialReason.COMPLETED),
}


def test_a_whole_budget_reads_as_an_integer_in_both_backends(tmp_path: Path) -> None:
    local_env, _ = run_locally(CASES["budget 27.0"], tmp_path)
    assert local_env["KUBETUNE_BUDGET"] == "27"
