"""examples/pbt-mlp.yaml, reduced to two members of two segments, runs through `kubetune run`:
each continuing segment unpickles the model its parent saved and trains on from its epoch."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetune.api.attributes import LineageAttribute
from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.local.reader import read_local_study
from kubetune.validation import parse_study

EXAMPLES = Path(__file__).parents[3] / "examples"


def test_the_example_as_written_fits_its_budget() -> None:
    study = parse_study(yaml.safe_load((EXAMPLES / "pbt-mlp.yaml").read_text()))
    assert study.spec.algorithm.name == "pbt" and study.spec.budget.max_trials == 8 * 5


@pytest.mark.slow
def test_the_mlp_example_trains_segments_that_continue_each_other(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    document = yaml.safe_load((EXAMPLES / "pbt-mlp.yaml").read_text())
    document["spec"]["algorithm"]["settings"]["populationSize"] = 2
    document["spec"]["budget"].update(maxTrials=4, parallelTrials=2)
    document["spec"]["budget"]["resource"]["max"] = 8
    path = tmp_path / "pbt-mlp.yaml"
    path.write_text(yaml.safe_dump(document))
    state = tmp_path / "state"
    code = main(["run", str(path), "--state-dir", str(state), "--workdir", str(EXAMPLES)])
    assert code == 0
    record = read_local_study(state, "pbt-mlp")
    assert [t.phase for t in record.trials] == [TrialPhase.SUCCEEDED] * 4
    continuing = [t for t in record.trials if LineageAttribute.PARENT in t.attributes]
    assert len(continuing) == 2
    for trial in continuing:
        # trained epochs 5 to 8 only: the first four came with the restored model
        assert [point.step for point in trial.intermediate] == [5, 6, 7, 8]
    kept = {p.name for p in (state / "pbt-mlp" / "checkpoints").iterdir()}
    assert all((state / "pbt-mlp" / "checkpoints" / name / "model.pkl").exists() for name in kept)
