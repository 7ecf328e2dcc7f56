"""``kubetune run`` with spec.warmStart: earlier local studies and results files become the
algorithm's history; every bad source is refused naming its field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import main
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.local.reader import read_local_study
from kubetune.validation import InvalidStudy, parse_study

HERE = Path(__file__).parent


def document(name: str, warm: dict[str, Any] | None = None, parameter: str = "x") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": parameter, "type": "float", "low": 0.0, "high": 1.0}],
        "algorithm": {"name": "tpe"},
        "budget": {"maxTrials": 2, "parallelTrials": 2},
        "seed": 1,
        "trialTemplate": {
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "command": ["python", "fake_trial.py"],
                                "args": [f"--x=${{params.{parameter}}}"],
                            }
                        ]
                    }
                }
            }
        },
    }
    if warm is not None:
        spec["warmStart"] = warm
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": spec,
    }


def local(state: Path, doc: dict[str, Any], study_dir: Path = HERE) -> LocalStudy:
    options = LocalOptions(state_dir=state, workdir=HERE, study_dir=study_dir, poll_seconds=0.02)
    return LocalStudy(parse_study(doc), options)


def run(study: LocalStudy) -> None:
    study.open()
    study.run(lambda view: None)


def test_a_study_starts_from_an_earlier_local_study(tmp_path: Path) -> None:
    run(local(tmp_path, document("before")))
    warm = local(tmp_path, document("after", {"studies": ["before"]}))
    assert [t.index for t in warm.planner.warm.trials] == [-1, -2]
    before = read_local_study(tmp_path, "before")
    assert [dict(t.params) for t in warm.planner.warm.trials] == [
        dict(t.params) for t in before.trials
    ]
    run(warm)
    after = read_local_study(tmp_path, "after")
    assert [t.index for t in after.trials] == [0, 1]  # maxTrials: only its own trials


def test_a_study_starts_from_a_results_file_next_to_the_study_file(tmp_path: Path) -> None:
    (tmp_path / "past.csv").write_text("params.x,loss\n0.3,1.0\n0.5,1.04\n2.0,9\n")
    study = local(tmp_path, document("s", {"file": "past.csv"}), study_dir=tmp_path)
    assert len(study.planner.warm.trials) == 2
    assert study.planner.warm.dropped == {"outside the search space": 1}


def errors(state: Path, warm: dict[str, Any], study_dir: Path = HERE) -> list[str]:
    with pytest.raises(InvalidStudy) as refused:
        local(state, document("s", warm), study_dir)
    return [str(e) for e in refused.value.errors]


def test_a_warm_start_study_that_does_not_exist_is_named(tmp_path: Path) -> None:
    (message,) = errors(tmp_path, {"studies": ["nope"]})
    assert message.startswith("spec.warmStart.studies[0]: no local study 'nope'")


def test_a_warm_start_study_with_no_matching_parameters_is_named(tmp_path: Path) -> None:
    run(local(tmp_path, document("other", parameter="y")))
    (message,) = errors(tmp_path, {"studies": ["other"]})
    assert message.startswith("spec.warmStart.studies[0]: study 'other' has parameters ['y']")
    assert "none of which is a parameter of this study (['x'])" in message


def test_a_study_cannot_warm_start_from_itself(tmp_path: Path) -> None:
    (message,) = errors(tmp_path, {"studies": ["s"]})
    assert "spec.warmStart.studies[0]: a study cannot warm-start from itself" in message


def test_a_results_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    (message,) = errors(tmp_path, {"file": "gone.csv"}, study_dir=tmp_path)
    assert message == (
        f"spec.warmStart.file: {tmp_path / 'gone.csv'} does not exist; "
        "the path is relative to the study file's folder"
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("cols.csv", "x,loss\n0.1,2\n", "no parameter columns"),
        ("cols.csv", "params.x,acc\n0.1,2\n", "no column for objective 'loss'"),
        ("bad.csv", "params.x,loss\n0.1,two\n", "row 1, column 'loss': 'two' is not a number"),
        ("other.csv", "params.y,loss\n0.1,2\n", "has parameters ['y'], none of which"),
        ("bad.json", json.dumps({"x": 1}), "must be a list of objects"),
        ("past.txt", "", "name a results file .csv or .json"),
    ],
)
def test_a_results_file_kubetune_cannot_use_is_named(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    (tmp_path / name).write_text(text)
    (message,) = errors(tmp_path, {"file": name}, study_dir=tmp_path)
    assert message.startswith("spec.warmStart.file: ")
    assert expected in message


def test_a_config_map_is_refused_locally_pointing_at_the_file_field(tmp_path: Path) -> None:
    (message,) = errors(tmp_path, {"configMap": {"name": "past", "key": "trials.csv"}})
    assert message.startswith("spec.warmStart.configMap: a ConfigMap is read by the operator")
    assert "spec.warmStart.file" in message


def test_every_bad_source_is_reported_at_once(tmp_path: Path) -> None:
    found = errors(tmp_path, {"studies": ["a", "b"], "file": "gone.json"}, study_dir=tmp_path)
    assert [m.split(":")[0] for m in found] == [
        "spec.warmStart.studies[0]",
        "spec.warmStart.studies[1]",
        "spec.warmStart.file",
    ]


def test_run_and_results_say_where_warm_trials_came_from(tmp_path: Path, capsys: Any) -> None:
    run(local(tmp_path, document("before")))
    (tmp_path / "past.csv").write_text("params.x,loss\n0.3,1.0\n5,1\n")
    path = tmp_path / "after.yaml"
    doc = document("after", {"studies": ["before"], "file": "past.csv"})
    container = doc["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", str(HERE / "fake_trial.py")]
    path.write_text(yaml.safe_dump(doc))
    assert main(["run", str(path), "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "warm start: 3 warm-start trial(s), 1 dropped (1 outside the search space)" in out
    assert main(["results", "after", "--state-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (
        "warm start: trials of study before, file past.csv fed the algorithm as known history; "
        "they are not listed or counted here"
    ) in out
