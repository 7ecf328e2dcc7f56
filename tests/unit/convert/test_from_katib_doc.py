"""docs/from-katib.md's worked example is what `kubetune convert` really writes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from kubetune.convert import convert_experiment, render

DOC = (Path(__file__).parents[3] / "docs" / "from-katib.md").read_text()


def test_the_worked_example_is_the_converters_output() -> None:
    example = DOC[DOC.index("## Worked example") :]
    experiment, study = re.findall(r"```yaml\n(.*?)```", example, re.DOTALL)[:2]
    conversion = convert_experiment(yaml.safe_load(experiment))
    assert not conversion.is_lossy  # the page says it exits 0
    assert render(conversion.manifest, conversion.notes, "Katib mnist-random.yaml") == study
