"""A hostile trial under ``kubetune run``: the study goes on, the trial is scored right, and
what it left on disk stays within the runner's bounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from kubetune.api.trial import MAX_TRIAL_METRICS, TrialPhase
from kubetune_runner._values import MAX_METRICS
from tests.hostile import hostile_trial
from tests.unit.local.test_backend import manifest, run_study

PROGRAM = Path(hostile_trial.__file__)


@pytest.mark.parametrize(
    "wrapper",
    [[sys.executable, "-m", "kubetune_runner"], ["kubetune-runner"]],
    ids=["wrapper process", "wrapper's job done by kubetune run"],
)
def test_a_hostile_trial_is_scored_by_its_loss_and_bounded_on_disk(
    tmp_path: Path, wrapper: list[str]
) -> None:
    document = manifest(budget={"maxTrials": 2, "parallelTrials": 2})
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = [*wrapper, "--", sys.executable, str(PROGRAM)]
    container["args"] = []
    study = run_study(document, tmp_path)
    trials = study.store.load_trials()
    assert [t.phase for t in trials] == [TrialPhase.SUCCEEDED] * 2, [t.message for t in trials]
    for trial in trials:
        metrics = study.store.metrics(trial.index)
        assert metrics.values["loss"] == hostile_trial.LOSS
        assert len(metrics.values) + len(metrics.non_finite) <= MAX_TRIAL_METRICS
        lines = (study.store.trial_dir(trial.index) / "metrics.jsonl").read_bytes().splitlines()
        assert all(len(json.loads(line)["values"]) <= MAX_METRICS for line in lines)
        assert len(trial.message or "") <= 1024
    output = (study.store.trial_dir(0) / "output.log").read_text(errors="replace")
    assert "at most 32 metric names" in output
