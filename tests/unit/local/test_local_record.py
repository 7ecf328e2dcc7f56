"""A local study as a record, and trial attributes through real trial processes and a resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubetune.algorithms import History, Suggester, Suggestion
from kubetune.api.trial import TrialPhase
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.local.reader import read_local_study
from kubetune.record import RecordUnavailable
from kubetune.space import SearchSpace
from kubetune.validation import parse_study

HERE = Path(__file__).parent


def document(max_trials: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "lineage"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "budget": {"maxTrials": max_trials, "parallelTrials": 2},
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "train",
                                    "command": ["python", "fake_trial.py"],
                                    "args": ["--x=${params.x}"],
                                }
                            ]
                        }
                    }
                }
            },
        },
    }


class Lineage(Suggester):
    """A toy population method: each trial's parent is the best finished trial so far and its
    generation one more than the parent's, read back from the history's attributes."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__(space, Suggester.Settings(), seed=0)
        self.histories: list[History] = []
        self.made: dict[int, dict[str, Any]] = {}
        """Attributes of each suggestion, by the trial index it becomes (no initialTrials)."""

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        self.histories.append(history)
        done = sorted(history.completed, key=lambda t: history.loss(t) or 0.0)
        parent = done[0] if done else None
        generation = 0 if parent is None else int(parent.attributes["generation"]) + 1
        start = len(history.trials)
        for index in range(start, start + n):
            self.made[index] = {
                "generation": generation,
                "parent": -1 if parent is None else parent.index,
                "checkpoint": f"ckpt/{index}",
            }
        return [Suggestion({"x": i / 10}, attributes=self.made[i]) for i in range(start, start + n)]


def run(state: Path, max_trials: int) -> tuple[LocalStudy, Lineage]:
    study = LocalStudy(
        parse_study(document(max_trials)),
        LocalOptions(state_dir=state, workdir=HERE, poll_seconds=0.02),
    )
    lineage = Lineage(study.planner.space)
    study.planner.suggester = lineage
    study.open()
    study.run(lambda view: None)
    return study, lineage


def test_attributes_reach_trial_json_and_every_later_history_even_after_a_restart(
    tmp_path: Path,
) -> None:
    _, first = run(tmp_path, max_trials=4)
    saved = json.loads((tmp_path / "lineage" / "trials" / "0" / "trial.json").read_text())
    assert saved["attributes"] == {"checkpoint": "ckpt/0", "generation": 0, "parent": -1}
    later = first.histories[-1]
    assert [t.attributes for t in later.trials] == [first.made[t.index] for t in later.trials]
    # Each later trial's generation was read from its parent's attributes in the history.
    for index in (2, 3):
        made = first.made[index]
        assert made["generation"] == first.made[made["parent"]]["generation"] + 1

    # A new process with a fresh suggester: the attributes come back from disk.
    _, second = run(tmp_path, max_trials=6)
    restored = second.histories[0]
    assert [t.index for t in restored.trials] == [0, 1, 2, 3]
    assert [t.attributes for t in restored.trials] == [first.made[i] for i in range(4)]

    record = read_local_study(tmp_path, "lineage")
    assert [t.attributes["checkpoint"] for t in record.trials] == [f"ckpt/{i}" for i in range(6)]


def test_an_interrupted_trial_is_rerun_with_its_attributes(tmp_path: Path) -> None:
    run(tmp_path, max_trials=2)
    path = tmp_path / "lineage" / "trials" / "1" / "trial.json"
    interrupted = {**json.loads(path.read_text()), "phase": "Running", "pid": None}
    path.write_text(json.dumps(interrupted))
    study = LocalStudy(parse_study(document(2)), LocalOptions(state_dir=tmp_path, workdir=HERE))
    study.open()
    assert [(t.index, dict(t.attributes)) for t in study.interrupted] == [
        (1, interrupted["attributes"])
    ]
    assert study.trials[1].attributes == interrupted["attributes"]


def test_the_record_of_a_local_study_holds_what_the_trials_did(tmp_path: Path) -> None:
    study, _ = run(tmp_path, max_trials=3)
    record = read_local_study(tmp_path, "lineage")
    assert record.name == "lineage" and record.source == str(tmp_path / "lineage")
    assert record.spec == study.study.spec
    assert [t.index for t in record.trials] == [0, 1, 2]
    for trial in record.trials:
        assert trial.phase is TrialPhase.SUCCEEDED and trial.reason == "Completed"
        assert trial.exit_code == 0
        assert trial.values["loss"] == pytest.approx((trial.params["x"] - 0.3) ** 2 + 1.0)
        assert [p.step for p in trial.intermediate] == [1]
        assert trial.seconds is not None and trial.seconds > 0
        assert trial.gpu_seconds == 0.0  # no devices were handed out
    assert record.summary.best_index == 2  # x = 0.2 is nearest to 0.3
    assert record.best is not None and record.best.params == {"x": 0.2}
    assert [t.index for t in record.ranked()] == [2, 1, 0]


def test_a_missing_local_study_is_named_with_the_studies_that_are_there(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "study.json").write_text("{}")
    with pytest.raises(RecordUnavailable, match=r"no local study 'lineage' under .*other"):
        read_local_study(tmp_path, "lineage")
    with pytest.raises(RecordUnavailable, match=r"other/study.json is not a study"):
        read_local_study(tmp_path, "other")
