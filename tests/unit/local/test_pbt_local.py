"""PBT on a laptop: `kubetune run` and `kubetune results` show the lineage and the best
member's schedule, and the lineage survives `kill -9` of `kubetune run` and a resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from test_checkpoints import HERE, manifest

from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
from kubetune.cli import main
from kubetune.local.reader import read_local_study

MEMBER, GENERATION = LineageAttribute.MEMBER, LineageAttribute.GENERATION
PARENT, EXPLOITED = LineageAttribute.PARENT, LineageAttribute.EXPLOITED


def study_file(tmp_path: Path, **changes: Any) -> Path:
    document = manifest({"populationSize": 3}, args=changes.pop("args", []))
    document["spec"]["budget"].update(maxTrials=9, parallelTrials=2, **changes)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_run_and_results_show_the_lineage_and_the_schedule_of_the_best(
    tmp_path: Path, capsys: Any
) -> None:
    path, state = study_file(tmp_path), str(tmp_path / "state")
    assert main(["run", str(path), "--state-dir", state, "--workdir", str(HERE)]) == 0
    final = capsys.readouterr().out
    record = read_local_study(Path(state), "ck")
    best = record.best
    assert best is not None and best.budget == 3
    chain = record.ancestry(best.index)
    assert [t.attributes[GENERATION] for t in chain] == [0, 1, 2]
    assert f"schedule of ck-{best.index} (segment by segment):" in final
    for segment in chain:
        start = f"  generation {segment.attributes[GENERATION]}: trial {segment.index} ("
        line = next(line for line in final.splitlines() if line.startswith(start))
        assert f"member {segment.attributes[MEMBER]}" in line
        assert f"steps to {segment.budget:g}" in line and f"x={segment.params['x']:.4g}" in line

    assert main(["results", "ck", "--state-dir", state, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    columns = list(rows[0])
    lineage = [f"attributes.{key}" for key in (MEMBER, GENERATION, PARENT, EXPLOITED)]
    assert [c for c in columns if c.startswith("attributes.")][:4] == lineage
    assert f"attributes.{RESTORE_ATTRIBUTE}" in columns
    by_trial = {row["trial"]: row for row in rows}
    for trial in record.trials:
        assert by_trial[trial.index][f"attributes.{MEMBER}"] == trial.attributes[MEMBER]
    assert main(["results", "ck", "--state-dir", state]) == 0
    assert f"schedule of ck-{best.index}" in capsys.readouterr().out


def _attributes(trials_dir: Path) -> dict[int, tuple[str, dict[str, Any], dict[str, Any]]]:
    found = {}
    for path in trials_dir.glob("*/trial.json"):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        found[record["index"]] = (record["phase"], record["params"], record["attributes"])
    return found


def test_the_lineage_survives_kill_9_of_kubetune_run_and_a_resume(tmp_path: Path) -> None:
    path, state = study_file(tmp_path, args=["--sleep=0.1"]), tmp_path / "state"
    command = [
        sys.executable, "-m", "kubetune.cli", "run", str(path),
        "--state-dir", str(state), "--workdir", str(HERE),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trials_dir = state / "ck" / "trials"
    deadline = time.monotonic() + 60
    before: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    while time.monotonic() < deadline:
        before = _attributes(trials_dir)
        if sum(1 for phase, *_ in before.values() if phase == "Succeeded") >= 4:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = _attributes(trials_dir)
    assert any(PARENT in attributes for *_, attributes in before.values())
    assert main(["run", str(path), "--state-dir", str(state), "--workdir", str(HERE)]) == 0
    after = _attributes(trials_dir)
    assert len(after) == 9 and all(phase == "Succeeded" for phase, *_ in after.values())
    for index, (_, params, attributes) in before.items():
        assert after[index][1:] == (params, attributes)  # rerun or kept, never re-decided
    record = read_local_study(state, "ck")
    for trial in record.trials:
        parent = trial.attributes.get(PARENT)
        if parent is not None:
            assert trial.attributes[GENERATION] == after[int(parent)][2][GENERATION] + 1
    assert sorted(t.attributes[MEMBER] for t in record.trials if t.budget == 3) == [0, 1, 2]
