"""Small studies for the dashboard tests: a record in memory, or a local state directory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubetune.api.trial import TrialPhase
from kubetune.history import IntermediateValue
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.record import RecordedTrial, StudyRecord, study_record
from kubetune.validation import parse_study

START = datetime(2026, 1, 1, tzinfo=UTC)


def document(name: str = "demo", max_trials: int = 20, command: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "metrics": ["accuracy"],
            "parameters": [
                {"name": "lr", "type": "float", "low": 0.0, "high": 1.0},
                {"name": "opt", "type": "categorical", "choices": ["adam", "sgd"]},
            ],
            "budget": {"maxTrials": max_trials, "parallelTrials": 2},
            "trialTemplate": {
                "job": {
                    "template": {"spec": {"containers": [{"name": "train", "command": [command]}]}}
                }
            },
        },
    }


def trial(
    index: int,
    phase: TrialPhase = TrialPhase.SUCCEEDED,
    loss: float | None = None,
    message: str | None = None,
    lr: float | None = None,
    opt: str = "adam",
) -> RecordedTrial:
    values = {} if loss is None else {"loss": loss}
    return RecordedTrial(
        index=index,
        params={"lr": index / 100 if lr is None else lr, "opt": opt},
        phase=phase,
        message=message,
        values=values,
        intermediate=tuple(IntermediateValue(s, {"loss": (loss or 0) + 1 / s}) for s in (1, 2)),
        start_time=START,
        completion_time=START + timedelta(seconds=index + 1) if phase.is_finished() else None,
    )


def record(trials: list[RecordedTrial], name: str = "demo") -> StudyRecord:
    spec = parse_study(document(name)).spec
    return study_record(name, spec, trials, source="memory")


def write_local_study(
    state_dir: Path,
    name: str,
    trials: list[tuple[LocalTrial, list[Mapping[str, Any]]]],
    max_trials: int = 20,
) -> StudyStore:
    """A state directory as ``kubetune run`` leaves it: the spec, trials and their reports."""
    store = StudyStore(state_dir / name)
    store.save_spec({"manifest": document(name, max_trials)})
    for local, reports in trials:
        store.save(local)
        with (store.trial_dir(local.index) / "metrics.jsonl").open("a") as stream:
            for line in reports:
                stream.write(json.dumps(line) + "\n")
    return store
