"""Checkpoints on a laptop: every trial of a pbt study saves into its own directory and a
continuing segment restores its parent's, through the runner API of real trial processes;
retention; a parent that saved nothing or whose checkpoint is gone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
from kubetune.api.trial import TrialPhase
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.local.checkpoints import CheckpointDirs
from kubetune.validation import parse_study

HERE = Path(__file__).parent


def manifest(settings: dict[str, Any] | None = None, args: list[str] | None = None,
             algorithm: str = "pbt") -> dict[str, Any]:  # fmt: skip
    container = {
        "name": "train",
        "command": ["python", "checkpoint_trial.py"],
        "args": [
            "--checkpoint-arg=${checkpointDir}",
            "--restore-arg=${restoreFrom}",
            *(args or []),
        ],
    }
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "ck"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "algorithm": {
                "name": algorithm,
                "settings": settings if settings is not None else {"populationSize": 2},
            },
            "budget": {
                "maxTrials": 6,
                "parallelTrials": 2,
                "resource": {"name": "steps", "min": 1, "max": 3},
            },
            "seed": 1,
            "trialTemplate": {"job": {"template": {"spec": {"containers": [container]}}}},
        },
    }


def run(document: dict[str, Any], state: Path) -> LocalStudy:
    study = LocalStudy(
        parse_study(document), LocalOptions(state_dir=state, workdir=HERE, poll_seconds=0.02)
    )
    study.open()
    study.run(lambda view: None)
    return study


def given(study: LocalStudy, index: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((study.store.trial_dir(index) / "given.json").read_text())
    return data


def test_each_segment_continues_the_state_its_parent_saved(tmp_path: Path) -> None:
    study = run(manifest({"populationSize": 2, "keepCheckpoints": "all"}), tmp_path)
    trials = {t.index: t for t in study.store.load_trials()}
    assert len(trials) == 6 and all(t.phase is TrialPhase.SUCCEEDED for t in trials.values())
    root = (tmp_path / "ck" / "checkpoints").resolve()
    for index, trial in trials.items():
        seen = given(study, index)
        assert seen["checkpoint_dir"] == seen["checkpoint_arg"] == str(root / f"ck-{index}")
        parent = trial.attributes.get(LineageAttribute.PARENT)
        if parent is None:
            assert seen["restore_dir"] is None and seen["restore_arg"] == ""
            assert seen["state"] == {"steps": 1, "trials": [f"ck-{index}"]}
            continue
        assert trial.attributes[RESTORE_ATTRIBUTE] == f"ck-{parent}"
        assert seen["restore_dir"] == seen["restore_arg"] == str(root / f"ck-{parent}")
        # the state went on from where the parent's segment ended
        parent_state = given(study, int(parent))["state"]
        assert seen["state"]["trials"] == [*parent_state["trials"], f"ck-{index}"]
        assert seen["state"]["steps"] == trial.budget
    assert sorted(p.name for p in root.iterdir()) == [f"ck-{i}" for i in range(6)]


def test_only_the_checkpoints_still_needed_are_kept(tmp_path: Path) -> None:
    study = run(manifest(), tmp_path)
    trials = study.store.load_trials()
    final = {f"ck-{t.index}" for t in trials if t.budget == 3}
    best = study.view().summary.best_index
    kept = {p.name for p in (tmp_path / "ck" / "checkpoints").iterdir()}
    assert kept == final | {f"ck-{best}"}
    assert len(kept) < 6


def test_a_parent_that_saved_nothing_hands_on_a_fresh_start_with_a_warning(
    tmp_path: Path,
) -> None:
    study = run(manifest(args=["--save-nothing"]), tmp_path)
    continuing = [t for t in study.store.load_trials() if RESTORE_ATTRIBUTE in t.attributes]
    assert continuing
    for trial in continuing:
        assert trial.phase is TrialPhase.SUCCEEDED
        assert given(study, trial.index)["restore_dir"] is None
        source = trial.attributes[RESTORE_ATTRIBUTE]
        expected = f"trial {source} saved nothing in its checkpoint directory"
        assert expected in (trial.message or "")
        log = (study.store.trial_dir(trial.index) / "output.log").read_text()
        assert f"kubetune: warning: {expected}" in log


def test_a_checkpoint_that_vanished_is_named_and_the_trial_starts_fresh(tmp_path: Path) -> None:
    dirs = CheckpointDirs(tmp_path)
    handoff = dirs.prepare("ck-5", {RESTORE_ATTRIBUTE: "ck-2"})
    assert handoff.restore_from is None and Path(handoff.checkpoint_dir).is_dir()
    assert handoff.notice is not None
    assert handoff.notice.startswith("the checkpoint of trial ck-2 (")
    assert "is gone, so ck-5 starts fresh" in handoff.notice
    escaping = dirs.prepare("ck-6", {RESTORE_ATTRIBUTE: "../ck-2"})
    assert escaping.restore_from is None and escaping.notice is not None


def test_a_rerun_trial_starts_from_an_empty_directory(tmp_path: Path) -> None:
    dirs = CheckpointDirs(tmp_path)
    (Path(dirs.prepare("ck-1", {}).checkpoint_dir) / "half-written").write_text("x")
    assert not any(Path(dirs.prepare("ck-1", {}).checkpoint_dir).iterdir())


def test_a_study_whose_template_asks_for_a_checkpoint_directory_gets_one(tmp_path: Path) -> None:
    document = manifest(settings={}, algorithm="random")
    document["spec"]["budget"] = {"maxTrials": 1}
    study = run(document, tmp_path)
    seen = given(study, 0)
    assert seen["checkpoint_dir"] == str((tmp_path / "ck" / "checkpoints" / "ck-0").resolve())
    assert seen["restore_dir"] is None


def test_a_study_that_keeps_no_checkpoints_gets_none(tmp_path: Path) -> None:
    document = manifest(settings={}, algorithm="random")
    document["spec"]["budget"] = {"maxTrials": 1}
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["args"] = []
    study = run(document, tmp_path)
    assert given(study, 0)["checkpoint_dir"] is None
    assert not (tmp_path / "ck" / "checkpoints").exists()
