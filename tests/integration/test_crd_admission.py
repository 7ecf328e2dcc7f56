"""`kubectl apply` rejects broken studies with the CRD's own words, before any operator runs.

The committed CRDs are installed strictly by the `crds` fixture (a CEL rule the API server
cannot compile fails the test), then studies are created through the real admission chain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubetune import algorithms, stopping

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BRANIN = yaml.safe_load((ROOT / "examples" / "branin.yaml").read_text())


def create(kube_api: client.ApiClient, namespace: str, document: dict[str, Any]) -> Any:
    return client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "kubetune.dev",
        "v1alpha1",
        namespace,
        "tuningstudies",
        document,
        field_validation="Strict",
    )


def study(change: Callable[[dict[str, Any]], Any] = lambda spec: None) -> dict[str, Any]:
    document = copy.deepcopy(BRANIN)
    change(document["spec"])
    return document


def test_a_constrained_multi_objective_study_is_accepted(
    crds: None, kube_api: client.ApiClient, namespace: str
) -> None:
    def constrained(spec: dict[str, Any]) -> None:
        objective = spec.pop("objective")
        spec.update(
            objectives=[objective, {"metric": "cost", "direction": "minimize"}],
            metrics=["latency"],
            constraints=[{"metric": "latency", "max": 10}, {"metric": "cost", "min": 0}],
            referencePoint=[400.0, 5.0],
        )
        spec["algorithm"] = {"name": "nsga2"}

    created = create(kube_api, namespace, study(constrained))
    assert created["spec"]["constraints"][0] == {"metric": "latency", "max": 10}


def test_the_examples_are_accepted(crds: None, kube_api: client.ApiClient, namespace: str) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        created = create(kube_api, namespace, document)
        assert created["spec"]["objective"] == document["spec"]["objective"]


def two_objectives(spec: dict[str, Any], **more: Any) -> None:
    del spec["objective"]
    spec.update(
        objectives=[
            {"metric": "a", "direction": "minimize"},
            {"metric": "b", "direction": "minimize"},
        ],
        **more,
    )


REJECTED = [
    ("low above high", lambda s: s["parameters"][0].update(low=20.0), "low must be less than high"),
    (
        "log through zero",
        lambda s: s["parameters"][1].update(log=True),
        "log: true needs low > 0; raise low or drop log",
    ),
    ("step of zero", lambda s: s["parameters"][0].update(step=0), "step must be greater than 0"),
    (
        "step larger than the range",
        lambda s: s["parameters"][0].update(step=100),
        "step must fit in the range",
    ),
    (
        "categorical with bounds",
        lambda s: s["parameters"].append(
            {"name": "opt", "type": "categorical", "choices": ["a"], "low": 1}
        ),
        "a categorical one takes only choices",
    ),
    (
        "empty choices",
        lambda s: s["parameters"].append({"name": "opt", "type": "categorical", "choices": []}),
        "spec.parameters[2].choices",
    ),
    (
        "duplicate names",
        lambda s: s["parameters"].append(dict(s["parameters"][0])),
        "parameter names must be unique",
    ),
    (
        "parallel above max",
        lambda s: s["budget"].update(parallelTrials=1000),
        "parallelTrials must not exceed maxTrials",
    ),
    (
        "objective and objectives",
        lambda s: s.update(
            objectives=[
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
            ]
        ),
        "give exactly one of objective (one metric) or objectives (a list)",
    ),
    (
        "another algorithm's setting",
        lambda s: s["algorithm"].update(settings={"reductionFactor": 3}),
        "bayesopt takes only these settings: acquisition, batchStrategy",
    ),
    (
        "unknown algorithm",
        lambda s: s["algorithm"].update(name="annealing"),
        'Unsupported value: "annealing"',
    ),
    (
        "constraint with neither max nor min",
        lambda s: s.update(metrics=["latency"], constraints=[{"metric": "latency"}]),
        "give exactly one of max or min for each constraint",
    ),
    (
        "constraint with both max and min",
        lambda s: s.update(
            metrics=["latency"], constraints=[{"metric": "latency", "max": 2, "min": 1}]
        ),
        "give exactly one of max or min for each constraint",
    ),
    (
        "constraint on an unknown metric",
        lambda s: s.update(constraints=[{"metric": "memory", "max": 2}]),
        "each constraint metric must be an objective or listed in spec.metrics",
    ),
    (
        "two constraints on one metric",
        lambda s: s.update(
            metrics=["latency"],
            constraints=[{"metric": "latency", "max": 2}, {"metric": "latency", "min": 1}],
        ),
        "constraint metrics must be distinct",
    ),
    (
        "reference point of the wrong length",
        lambda s: two_objectives(s, referencePoint=[1.0, 2.0, 3.0]),
        "referencePoint needs one value per objective of spec.objectives",
    ),
    (
        "warm start without a source",
        lambda s: s.update(warmStart={"studies": []}),
        "warmStart needs studies, a file or a configMap",
    ),
    (
        "warm start from a study twice",
        lambda s: s.update(warmStart={"studies": ["a", "a"]}),
        "warmStart.studies must be distinct",
    ),
    (
        "checkpoints in two places",
        lambda s: s["trialTemplate"].update(
            checkpoints={"persistentVolumeClaim": {"claimName": "ckpt"}, "uri": "s3://b/p"}
        ),
        "give exactly one of persistentVolumeClaim (a claim mounted into every trial) or uri",
    ),
    (
        "a checkpoint mount path with a URI",
        lambda s: s["trialTemplate"].update(checkpoints={"uri": "s3://b/p", "mountPath": "/c"}),
        "mountPath is only for persistentVolumeClaim; drop it with uri",
    ),
    (
        "warm-start ConfigMap key without a format",
        lambda s: s.update(warmStart={"configMap": {"name": "past", "key": "results"}}),
        "warmStart.configMap.key must end in .csv or .json",
    ),
    (
        "misspelt field",
        lambda s: s["budget"].update(maxTrails=3),
        'unknown field "spec.budget.maxTrails"',
    ),
]


def _able(registry: Any, flag: str, want: bool = True) -> str:
    return ", ".join(n for n, d in registry.items() if getattr(d.capabilities, flag) is want)


SINGLE_OBJECTIVE = next(
    n for n, d in algorithms.REGISTRY.items() if not d.capabilities.several_objectives
)
UNCONSTRAINED = next(n for n, d in algorithms.REGISTRY.items() if not d.capabilities.constraints)
NEEDS_RESOURCE = next(n for n, d in algorithms.REGISTRY.items() if d.capabilities.needs_resource)
ONE_OBJECTIVE_RULE = next(
    n for n, d in stopping.REGISTRY.items() if not d.capabilities.several_objectives
)

# What the algorithm or rule cannot do, refused by the CEL rules derived from the registry's
# capabilities in the words of `kubetune validate`, at the field's path.
REJECTED += [
    (
        "two objectives with a single-objective algorithm",
        lambda s: two_objectives(s, algorithm={"name": SINGLE_OBJECTIVE}),
        f"spec.algorithm.name: Invalid value: {SINGLE_OBJECTIVE} optimizes one "
        "objective, this study has several; choose one that handles several: "
        + _able(algorithms.REGISTRY, "several_objectives"),
    ),
    (
        "constraints with an algorithm that does not honour them",
        lambda s: s.update(
            algorithm={"name": UNCONSTRAINED},
            metrics=["latency"],
            constraints=[{"metric": "latency", "max": 2}],
        ),
        f"spec.algorithm.name: Invalid value: {UNCONSTRAINED} does not honour "
        "spec.constraints; choose one that does: " + _able(algorithms.REGISTRY, "constraints"),
    ),
    (
        "a resource-handing algorithm without budget.resource",
        lambda s: s.update(algorithm={"name": NEEDS_RESOURCE}),
        f"spec.budget.resource: Invalid value: {NEEDS_RESOURCE} hands out a "
        "training resource: set spec.budget.resource {name, min, max} and pass ${budget} to the "
        "trial; algorithms that need none: "
        + _able(algorithms.REGISTRY, "needs_resource", want=False),
    ),
    (
        "two objectives with a single-objective stopping rule",
        lambda s: two_objectives(s, earlyStopping={"rule": ONE_OBJECTIVE_RULE}),
        f"spec.earlyStopping.rule: Invalid value: {ONE_OBJECTIVE_RULE} judges one "
        "objective, this study has several; choose one that handles several: "
        + (_able(stopping.REGISTRY, "several_objectives") or "none"),
    ),
]


@pytest.mark.parametrize(
    "algorithm",
    [
        n
        for n, d in algorithms.REGISTRY.items()
        if d.capabilities.several_objectives and d.capabilities.constraints
    ],
)
def test_each_algorithm_declaring_several_objectives_and_constraints_is_accepted_with_them(
    crds: None, kube_api: client.ApiClient, namespace: str, algorithm: str
) -> None:
    document = study(
        lambda s: two_objectives(
            s,
            algorithm={"name": algorithm},
            metrics=["latency"],
            constraints=[{"metric": "latency", "max": 2}],
        )
    )
    document["metadata"]["name"] = f"front-{algorithm}"
    assert create(kube_api, namespace, document)["spec"]["algorithm"]["name"] == algorithm


def test_two_objectives_with_the_default_algorithm_are_accepted(
    crds: None, kube_api: client.ApiClient, namespace: str
) -> None:
    document = study(lambda s: (s.pop("algorithm", None), two_objectives(s)))
    document["metadata"]["name"] = "default-algorithm"
    assert "algorithm" not in create(kube_api, namespace, document)["spec"]


@pytest.mark.parametrize("change, message", [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_broken_studies_are_rejected_with_the_rule_message(
    crds: None, kube_api: client.ApiClient, namespace: str, change: Any, message: str
) -> None:
    with pytest.raises(client.ApiException) as caught:
        create(kube_api, namespace, study(change))
    assert caught.value.status in (400, 422)
    said = json.loads(caught.value.body)["message"]
    assert message in said, said
