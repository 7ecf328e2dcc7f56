"""docs/from-optuna.md's worked example is a valid study."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kubetune.validation import parse_study

DOC = (Path(__file__).parents[3] / "docs" / "from-optuna.md").read_text()


def test_the_worked_example_manifest_validates() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    (manifest,) = [b for b in blocks if "kind: TuningStudy" in b]
    study = parse_study(yaml.safe_load(manifest))
    assert study.spec.algorithm.name == "tpe"
    assert study.spec.parameters[-1].when == {"optimizer": ["sgd"]}
