"""``kubetune convert``: the file it writes, and its exit status (0 exact, 3 lossy, 1 refused)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubetune.cli import EXIT_LOSSY, main

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"


def test_an_exact_conversion_exits_0_and_writes_a_study_that_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "study.yaml"
    assert main(["convert", str(CORPUS / "random-stdout.yaml"), "-o", str(out)]) == 0
    assert out.read_text().startswith("# Converted from Katib random-stdout.yaml")
    assert main(["validate", str(out)]) == 0
    assert "5 notes" in capsys.readouterr().err


def test_a_lossy_conversion_exits_with_its_own_status_and_prints_to_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert EXIT_LOSSY not in (0, 1, 2)
    assert main(["convert", str(CORPUS / "sobol-tfevent.yaml")]) == EXIT_LOSSY
    captured = capsys.readouterr()
    assert "kind: TuningStudy" in captured.out
    assert "dropped: spec.trialTemplate.trialSpec.metadata.labels" in captured.err


def test_a_refusal_exits_1_naming_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convert", str(CORPUS / "configmap-source.yaml")]) == 1
    assert "cannot convert: spec.trialTemplate.configMap" in capsys.readouterr().err


def test_a_configmap_template_given_on_the_command_line(tmp_path: Path) -> None:
    trial_spec = HERE / "trial-specs" / "configmap-source.yaml"
    out = tmp_path / "study.yaml"
    experiment = str(CORPUS / "configmap-source.yaml")
    code = main(["convert", experiment, "--trial-spec", str(trial_spec), "-o", str(out)])
    assert code == EXIT_LOSSY  # the objective's default strategy (min) differs
    assert main(["validate", str(out)]) == 0


def test_invalid_yaml_and_a_missing_file_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    assert main(["convert", str(broken)]) == 1
    assert "error:" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml" in capsys.readouterr().err


def test_an_empty_file_is_not_an_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.yaml"
    shutil.copy(CORPUS / "random-stdout.yaml", empty)
    empty.write_text("")
    assert main(["convert", str(empty)]) == 1
    assert "expected a Katib Experiment" in capsys.readouterr().err
