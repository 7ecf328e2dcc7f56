"""Broken manifests get errors that name the field and say the fix; good ones pass."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune import stopping
from kubetune.algorithms import REGISTRY
from kubetune.cli import main
from kubetune.space import SearchSpace
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
        "spec.algorithm.name: 'annealing' is not an algorithm; choose one of grid, random",
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
        "checkpoints in two places",
        lambda s: s["trialTemplate"].update(
            checkpoints={"persistentVolumeClaim": {"claimName": "ckpt"}, "uri": "s3://b/p"}
        ),
        "spec.trialTemplate.checkpoints: give exactly one of 'persistentVolumeClaim'",
    ),
    (
        "checkpoints nowhere",
        lambda s: s["trialTemplate"].update(checkpoints={}),
        "spec.trialTemplate.checkpoints: give exactly one of 'persistentVolumeClaim'",
    ),
    (
        "a mount path with a URI",
        lambda s: s["trialTemplate"].update(checkpoints={"uri": "s3://b/p", "mountPath": "/ckpt"}),
        "spec.trialTemplate.checkpoints: 'mountPath' is only for 'persistentVolumeClaim'",
    ),
    (
        "a claim name that is not a name",
        lambda s: s["trialTemplate"].update(
            checkpoints={"persistentVolumeClaim": {"claimName": "My Claim"}}
        ),
        "spec.trialTemplate.checkpoints.persistentVolumeClaim.claimName",
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


# --- conditions ------------------------------------------------------------------------------


def test_a_when_cycle_is_refused_naming_the_cycle() -> None:
    def cycle(s: dict[str, Any]) -> None:
        s["parameters"] += [
            {"name": "a", "type": "categorical", "choices": ["x", "y"], "when": {"b": ["u"]}},
            {"name": "b", "type": "categorical", "choices": ["u", "v"], "when": {"a": ["x"]}},
        ]

    problems = errors_of(broken(cycle))
    assert any("'when' conditions form a cycle: a -> b -> a" in p for p in problems), problems


def test_a_condition_on_a_parameter_listed_later_is_valid() -> None:
    def child_first(s: dict[str, Any]) -> None:
        s["parameters"][:0] = [
            {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9,
             "when": {"optimizer": ["sgd"]}},
            {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
        ]  # fmt: skip

    study = parse_study(broken(child_first))
    space = SearchSpace.from_specs(study.spec.parameters)
    assert any("momentum" in p for p in space.sample(np.random.default_rng(0), 50))


# --- non-finite numbers ----------------------------------------------------------------------

NON_FINITE = [math.inf, -math.inf, math.nan]

# (path as errors print it, how to put a value there)
NUMBER_FIELDS: list[tuple[str, Any]] = [
    ("spec.parameters[0].low", lambda s, v: s["parameters"][0].update(low=v)),
    ("spec.parameters[0].high", lambda s, v: s["parameters"][0].update(high=v)),
    ("spec.parameters[0].step", lambda s, v: s["parameters"][0].update(step=v)),
    ("spec.parameters[2].high", lambda s, v: s["parameters"].append(
        {"name": "n", "type": "int", "low": 1, "high": v})),
    ("spec.parameters[2].choices[1]", lambda s, v: s["parameters"].append(
        {"name": "c", "type": "categorical", "choices": [1.0, v]})),
    ("spec.objective.target", lambda s, v: s["objective"].update(target=v)),
    ("spec.budget.resource.min", lambda s, v: s["budget"].update(
        resource={"name": "epochs", "min": v, "max": 9})),
    ("spec.budget.resource.max", lambda s, v: s["budget"].update(
        resource={"name": "epochs", "min": 1, "max": v})),
    ("spec.budget.maxTrials", lambda s, v: s["budget"].update(maxTrials=v)),
    ("spec.algorithm.settings.ucbBeta", lambda s, v: s["algorithm"].update(
        name="bayesopt", settings={"ucbBeta": v})),
    ("spec.algorithm.settings.samplerSettings.gamma", lambda s, v: s.update(
        algorithm={"name": "asha", "settings": {"sampler": "tpe", "samplerSettings": {"gamma": v}}},
        budget={**s["budget"], "resource": {"name": "epochs", "min": 1, "max": 9}})),
    ("spec.earlyStopping.settings.value", lambda s, v: s.update(
        earlyStopping={"rule": "threshold", "settings": {"value": v}})),
    ("spec.initialTrials[0].x1", lambda s, v: s.update(initialTrials=[{"x1": v, "x2": 1.0}])),
    ("spec.trialTemplate.job.activeDeadlineSeconds", lambda s, v: s["trialTemplate"]["job"].update(
        activeDeadlineSeconds=v)),
]  # fmt: skip


@given(st.sampled_from(NUMBER_FIELDS), st.sampled_from(NON_FINITE))
@settings(max_examples=len(NUMBER_FIELDS) * 6, deadline=None)
def test_a_non_finite_number_anywhere_is_refused_naming_the_field(
    field: tuple[str, Any], value: float
) -> None:
    path, put = field
    document = broken(lambda s: put(s, value))
    with pytest.raises(InvalidStudy) as caught:
        parse_study(document)
    errors = [str(e) for e in caught.value.errors]
    assert any(e.startswith(f"{path}: ") and "finite" in e for e in errors), errors
    assert not any("less than" in e for e in errors), errors  # nan is not "not below high"


def test_an_infinite_int_bound_is_an_error_not_a_crash(tmp_path: Path, capsys: Any) -> None:
    bad = broken(
        lambda s: s["parameters"].append({"name": "n", "type": "int", "low": 1, "high": math.inf})
    )
    path = tmp_path / "inf.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert "high: .inf" in path.read_text()
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "spec.parameters[2].high: .inf is not allowed; give a finite number" in err
    assert "Traceback" not in err


# --- what the algorithm and rule can do ------------------------------------------------------

TWO_OBJECTIVES = [
    {"metric": "loss", "direction": "minimize"},
    {"metric": "latency", "direction": "minimize"},
]


def multi_objective(algorithm: str, **spec: Any) -> dict[str, Any]:
    def change(s: dict[str, Any]) -> None:
        s.pop("objective")
        s.update(objectives=TWO_OBJECTIVES, **spec)
        s["algorithm"] = {"name": algorithm}
        s["budget"]["resource"] = {"name": "epochs", "min": 1, "max": 9}

    return broken(change)


SINGLE = [n for n, d in REGISTRY.items() if not d.capabilities.several_objectives]
SEVERAL = [n for n, d in REGISTRY.items() if d.capabilities.several_objectives]


def test_the_algorithms_that_do_not_optimize_handle_several_objectives() -> None:
    assert {"random", "sobol", "grid", "tpe", "bayesopt"} <= set(SEVERAL)
    assert {"cmaes", "asha", "hyperband"} <= set(SINGLE)


@pytest.mark.parametrize("algorithm", SINGLE)
def test_several_objectives_need_an_algorithm_that_handles_them(algorithm: str) -> None:
    problems = errors_of(multi_objective(algorithm))
    expected = (
        f"spec.algorithm.name: {algorithm} optimizes one objective, this study has 2; "
        f"choose one that handles several: {', '.join(SEVERAL)}"
    )
    assert expected in problems, problems


@pytest.mark.parametrize("algorithm", ["random", "sobol", "bayesopt"])
def test_several_objectives_with_an_algorithm_that_handles_them_pass(algorithm: str) -> None:
    parse_study(multi_objective(algorithm))


@pytest.mark.parametrize("rule", list(stopping.REGISTRY))
def test_several_objectives_refuse_a_rule_that_judges_one(rule: str) -> None:
    problems = errors_of(multi_objective("random", earlyStopping={"rule": rule}))
    assert any(
        p.startswith(f"spec.earlyStopping.rule: {rule} judges one objective, this study has 2")
        and p.endswith("choose one that handles several: none")
        for p in problems
    ), problems


@pytest.mark.parametrize(
    "algorithm", [n for n, d in REGISTRY.items() if d.capabilities.needs_resource]
)
def test_an_algorithm_that_needs_a_resource_refuses_a_study_without_one(algorithm: str) -> None:
    problems = errors_of(broken(lambda s: s["algorithm"].update(name=algorithm)))
    assert any(
        p.startswith(f"spec.budget.resource: {algorithm} hands out a training resource")
        and "algorithms that need none: grid, random, sobol" in p
        for p in problems
    ), problems


def test_an_unknown_rule_lists_the_rules() -> None:
    problems = errors_of(broken(lambda s: s.update(earlyStopping={"rule": "patience"})))
    assert (
        "spec.earlyStopping.rule: 'patience' is not a stopping rule; choose one of "
        + ", ".join(stopping.names())
    ) in problems, problems
