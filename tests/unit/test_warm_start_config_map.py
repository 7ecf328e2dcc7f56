"""`kubetune warm-start-configmap`: a results file carried to a cluster as a ConfigMap the
operator reads for spec.warmStart.configMap; a file it could not use is refused first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import main
from kubetune.warmstart import CONFIG_MAP_LIMIT_BYTES

CSV = "number,params_x,value,state\n0,0.3,1.5,COMPLETE\n1,0.6,0.5,COMPLETE\n"
STUDY = {
    "apiVersion": "kubetune.dev/v1alpha1",
    "kind": "TuningStudy",
    "metadata": {"name": "after"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}],
        "algorithm": {"name": "tpe"},
        "warmStart": {"configMap": {"name": "past", "key": "past.csv"}},
        "trialTemplate": {
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["r"]}]}}}
        },
    },
}


def config_map(tmp_path: Path, text: str, *extra: str, capsys: Any) -> tuple[int, str, str]:
    (tmp_path / "past.csv").write_text(text)
    code = main(["warm-start-configmap", str(tmp_path / "past.csv"), "--name", "past", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_config_map_holds_the_file_as_it_is_under_its_name(tmp_path: Path, capsys) -> None:
    code, out, err = config_map(tmp_path, CSV, "-n", "ml", capsys=capsys)
    assert code == 0
    assert yaml.safe_load(out) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "past", "namespace": "ml"},
        "data": {"past.csv": CSV},
    }
    assert "  past.csv: |\n    number,params_x" in out  # readable as a block
    assert "spec.warmStart.configMap: {name: past, key: past.csv}" in err


def test_checked_against_the_study_it_counts_the_trials(tmp_path: Path, capsys) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY))
    code, _, err = config_map(tmp_path, CSV, "--study", str(tmp_path / "s.yaml"), capsys=capsys)
    assert code == 0 and "2 completed trial(s)" in err


def test_wrong_columns_for_the_study_are_refused_before_anything_is_printed(
    tmp_path: Path, capsys
) -> None:
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(STUDY))
    text = "params_y,value\n0.1,2\n"
    code, out, err = config_map(tmp_path, text, "--study", str(tmp_path / "s.yaml"), capsys=capsys)
    assert (code, out) == (1, "")
    assert "has parameters ['y'], none of which is a parameter of this study" in err


@pytest.mark.parametrize(
    ("text", "extra", "expected"),
    [
        (CSV, ["--key", "past.txt"], "'past.txt' must end in .csv or .json"),
        ("x" * (CONFIG_MAP_LIMIT_BYTES + 1), [], "a ConfigMap holds at most 1048576 bytes"),
    ],
)
def test_what_a_config_map_cannot_carry_is_refused(
    tmp_path: Path, capsys, text: str, extra: list[str], expected: str
) -> None:
    code, out, err = config_map(tmp_path, text, *extra, capsys=capsys)
    assert (code, out) == (1, "")
    assert expected in err
