"""Broken manifests get errors that name the field and say the fix; good ones pass."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import main
from kubetune.validation import InvalidStudy, parse_study

EXAMPLES = Path(__file__).parents[2] / "examples"
BRANIN = yaml.safe_load((EXAMPLES / "branin.yaml").read_text())


def broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(BRANIN)
    change(document["spec"])
    return document


def errors_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidStudy) as caught:
        parse_study(document)
    return [str(e) for e in caught.value.errors]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(path: Path) -> None:
    assert main(["validate", str(path)]) == 0


BROKEN = [
    (
        "unknown algorithm",
        lambda s: s["algorithm"].update(name="annealing"),
        "spec.algorithm.name: Input should be 'random'",
    ),
    (
        "settings of the wrong type",
        lambda s: s["algorithm"].update(name="grid", settings={"shuffle": "sometimes"}),
        "spec.algorithm.settings.shuffle: Input should be a valid boolean",
    ),
    (
        "unknown setting",
        lambda s: s["algorithm"].update(settings={"temperature": 3}),
        "spec.algorithm.settings.temperature: Extra inputs are not permitted",
    ),
    (
        "low above high",
        lambda s: s["parameters"][0].update(low=20.0),
        "spec.parameters[0]: 'low' (20) must be less than 'high' (10)",
    ),
    (
        "log scale through zero",
        lambda s: s["parameters"][1].update(log=True),
        "spec.parameters[1]: 'log: true' needs 'low' > 0 (got 0); raise low or drop log",
    ),
    (
        "misspelt field",
        lambda s: s["budget"].update(maxTrails=3),
        "spec.budget.maxTrails: unknown field; check its spelling against docs/manifest.md",
    ),
    (
        "parallel above max",
        lambda s: s["budget"].update(parallelTrials=100),
        "spec.budget: parallelTrials (100) must not exceed maxTrials (48); lower parallelTrials",
    ),
    (
        "duplicate parameter names",
        lambda s: s["parameters"].append(dict(s["parameters"][0])),
        "spec: parameter names must be unique; repeated: ['x1']",
    ),
    (
        "condition on a missing parameter",
        lambda s: s["parameters"][0].update(when={"optimizer": ["sgd"]}),
        "spec: parameters[0] (x1).when.optimizer: no parameter named 'optimizer'",
    ),
    (
        "initial trial outside the space",
        lambda s: s.update(initialTrials=[{"x1": 50.0, "x2": 1.0}]),
        "spec.initialTrials[0]: x1: 50.0 is outside [-5, 10]",
    ),
    (
        "grid over a continuous space",
        lambda s: s["algorithm"].update(name="grid"),
        "spec.algorithm: grid: parameter 'x1' is a continuous float: grid search needs a finite",
    ),
    (
        "template without a command",
        lambda s: (
            s["trialTemplate"]["job"]["template"]["spec"]["containers"][0].pop("command")
            and s["trialTemplate"]["job"]["template"]["spec"]["containers"][0].pop("args")
        ),
        "spec.trialTemplate.job.template.spec.containers: the primary container has no command",
    ),
    (
        "template referring to an unknown parameter",
        lambda s: s["trialTemplate"]["job"]["template"]["spec"]["containers"][0]["args"].append(
            "--lr=${params.lr}"
        ),
        "${params.lr} names no parameter; known: ['x1', 'x2']",
    ),
    (
        "no objective",
        lambda s: s.pop("objective"),
        "spec: give exactly one of 'objective' (one metric) or 'objectives' (list)",
    ),
    (
        "template without containers",
        lambda s: s["trialTemplate"]["job"]["template"]["spec"].update(containers=[]),
        "spec.trialTemplate.job: the job needs template.spec.containers with at least one",
    ),
]


@pytest.mark.parametrize("change, expected", [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_manifest_errors_name_field_and_fix(change: Any, expected: str) -> None:
    problems = errors_of(broken(change))
    assert any(expected in p for p in problems), problems


def test_validate_command_prints_field_errors_and_fails(tmp_path: Path, capsys: Any) -> None:
    bad = broken(lambda s: s["budget"].update(maxTrials=0))
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "spec.budget.maxTrials: Input should be greater than or equal to 1" in err


def test_malformed_yaml_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("spec: [unclosed\n")
    assert main(["validate", str(path)]) == 1
    assert f"{path}: not valid YAML: " in capsys.readouterr().err


def test_a_file_without_a_study(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("kind: ConfigMap\n")
    assert main(["validate", str(path)]) == 1
    assert "expected one document of kind TuningStudy, found 0" in capsys.readouterr().err
