"""Fuzzing the way in: any manifest, valid or broken, through validation and planning.

Property: ``parse_study`` either returns a study or raises ``InvalidStudy`` whose every
error names a field path and says something; it never raises anything else. A study that
passes must plan: the local run's planning step (``Planner``, ``decide`` over a few rounds of
finished trials, rendering each new trial's container) raises nothing and suggests only
points of the space. ``kubetune validate`` on arbitrary text exits 0 or 1 with a message,
never a traceback.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubetune import cli
from kubetune.api.study import MAX_PARAMETERS
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner, TrialSnapshot
from kubetune.template import render_container
from kubetune.validation import InvalidStudy, parse_study
from tests.fuzzing.manifests import base_manifest, manifests, plausible_manifests, when_chain

FIELD_ROOTS = ("spec", "metadata", "apiVersion", "kind", "(document)")
"""Where an error's path may start: a field of the manifest."""

ROUNDS = 3
"""Planning rounds per valid study, each finishing the trials the previous one launched."""

FUZZ = settings(
    max_examples=int(os.environ.get("KUBETUNE_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _refusal_is_clear(error: InvalidStudy) -> None:
    assert error.errors, "InvalidStudy without errors"
    for problem in error.errors:
        assert problem.path.startswith(FIELD_ROOTS), problem
        assert problem.message.strip(), problem


def _loss(params: dict[str, Any], index: int) -> float:
    numbers = [float(v) for v in params.values() if isinstance(v, int | float)]
    return sum(numbers) + index * 1e-3 if numbers else float(index)


def _plan(study: Any) -> None:
    """What ``kubetune run`` does before and between trials, without starting processes."""
    planner = Planner(study.spec, study.metadata.name)
    container = study.spec.trial_template.job["template"]["spec"]["containers"][0]
    trials: list[TrialSnapshot] = []
    for _ in range(ROUNDS):
        decision = planner.decide(trials)
        for new in decision.launch:
            assert planner.space.errors(new.params) == [], new
            render_container(
                container, new.params, f"{study.metadata.name}-{new.index}", new.budget
            )
        trials += [
            TrialSnapshot(
                index=new.index,
                params=new.params,
                phase=TrialPhase.SUCCEEDED,
                values={o.metric: _loss(new.params, new.index) for o in planner.objectives},
                budget=new.budget,
                attributes=new.attributes,
            )
            for new in decision.launch
        ]
        if decision.ending is not None:
            return


@FUZZ
@given(st.one_of(manifests(), plausible_manifests()))
def test_any_manifest_is_refused_by_field_or_plans(manifest: dict[str, Any]) -> None:
    try:
        study = parse_study(manifest)
    except InvalidStudy as error:
        _refusal_is_clear(error)
        return
    _plan(study)


@pytest.mark.parametrize("depth", [2, 20, MAX_PARAMETERS - 3])
def test_a_deep_when_chain_validates_and_plans(depth: int) -> None:
    manifest = base_manifest()
    manifest["spec"]["parameters"] += when_chain(depth, cyclic=False)
    _plan(parse_study(manifest))


def test_a_cyclic_when_chain_is_refused_naming_the_cycle() -> None:
    manifest = base_manifest()
    manifest["spec"]["parameters"] += when_chain(5, cyclic=True)
    with pytest.raises(InvalidStudy) as caught:
        parse_study(manifest)
    _refusal_is_clear(caught.value)
    assert "cycle" in str(caught.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "path",
    [
        ("budget", "maxTrials"),
        ("objective", "target"),
        ("algorithm", "settings", "gamma"),
        ("parameters", 0, "high"),
        ("seed",),
    ],
)
def test_non_finite_numbers_anywhere_are_refused_by_path(
    value: float, path: tuple[Any, ...]
) -> None:
    manifest = base_manifest()
    node: Any = manifest["spec"]
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    with pytest.raises(InvalidStudy) as caught:
        parse_study(manifest)
    _refusal_is_clear(caught.value)
    assert any(e.path.startswith("spec." + str(path[0])) for e in caught.value.errors)


yaml_text = st.one_of(
    st.text(max_size=300),
    st.builds(
        yaml.safe_dump,
        st.recursive(
            st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
            lambda children: (
                st.lists(children, max_size=4)
                | st.dictionaries(st.text(max_size=8), children, max_size=4)
            ),
            max_leaves=20,
        ),
    ),
    manifests().map(lambda m: yaml.safe_dump(m, allow_unicode=True)),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=yaml_text)
def test_kubetune_validate_never_shows_a_traceback(
    text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 1)
    assert "Traceback" not in out + err
    if code == 1:
        assert err.strip(), "a refusal must say why"
