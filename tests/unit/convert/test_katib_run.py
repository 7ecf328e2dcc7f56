"""End to end: a converted Katib Experiment runs with the local backend, each collector kind."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.api.trial import TrialPhase
from kubetune.convert import convert_experiment
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.validation import parse_study

HERE = Path(__file__).parent
COLLECTORS: dict[str, dict[str, Any] | None] = {
    "print": None,
    "file": {
        "collector": {"kind": "File"},
        "source": {"fileSystemPath": {"path": "metrics.json", "kind": "File", "format": "JSON"}},
    },
    "push": {"collector": {"kind": "Push"}},
}


@pytest.mark.parametrize("report", sorted(COLLECTORS))
def test_a_converted_experiment_runs_locally_unchanged(tmp_path: Path, report: str) -> None:
    document = yaml.safe_load((HERE / "corpus" / "local-quadratic.yaml").read_text())
    spec = document["spec"]
    if COLLECTORS[report] is not None:
        spec["metricsCollectorSpec"] = COLLECTORS[report]
        spec["parallelTrialCount"] = 1  # one metrics.json in the shared working directory
    container = spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"].append(f"--report={report}")
    conversion = convert_experiment(document)
    assert not conversion.is_lossy
    shutil.copy(HERE / "quadratic.py", tmp_path)
    state = tmp_path / ".kubetune"
    study = LocalStudy(
        parse_study(conversion.manifest),
        LocalOptions(state_dir=state, workdir=tmp_path, poll_seconds=0.02),
    )
    study.open()
    view = study.run(lambda view: None)
    trials = study.store.load_trials()
    assert len(trials) == 4
    assert all(t.phase is TrialPhase.SUCCEEDED for t in trials), [t.message for t in trials]
    assert view.summary.best_index is not None
    for trial in trials:
        x, steps = trial.params["x"], trial.params["steps"]
        metrics = study.store.metrics(trial.index)
        assert metrics.values["loss"] == pytest.approx((x - 0.25) ** 2 + 1.0 / steps)
        assert [p.step for p in metrics.points()] == list(range(1, steps + 1))
