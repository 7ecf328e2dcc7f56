"""The operator's warm start: earlier studies' Trials read from the watch cache, once per spec
generation; a missing study, one without matching parameters, or a file is refused naming
the field."""

from __future__ import annotations

from typing import Any

from kubetune.api.study import STUDY_LABEL
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.plans import Plan, Plans
from kubetune.kube.warm import load_warm_start
from kubetune.validation import InvalidStudy, parse_study


def study(name: str, warm: dict[str, Any] | None = None, parameter: str = "x") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": parameter, "type": "float", "low": 0, "high": 1}],
        "algorithm": {"name": "tpe"},
        "budget": {"maxTrials": 3},
        "trialTemplate": {
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["r"]}]}}}
        },
    }
    if warm is not None:
        spec["warmStart"] = warm
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name, "namespace": "ns", "uid": f"u-{name}", "generation": 1},
        "spec": spec,
    }


def trial(study_name: str, index: int, phase: str, x: float, loss: float) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{study_name}-{index}",
            "namespace": "ns",
            "labels": {STUDY_LABEL: study_name},
            "resourceVersion": "1",
        },
        "spec": {"study": study_name, "index": index, "parameters": {"x": x}},
        "status": {"phase": phase, "values": {"loss": loss}},
    }


def cache_with_before() -> ObjectCache:
    cache = ObjectCache()
    cache.apply(Kind.STUDY, "ADDED", study("before"))
    cache.apply(Kind.TRIAL, "ADDED", trial("before", 1, "Succeeded", 0.4, 2.0))
    cache.apply(Kind.TRIAL, "ADDED", trial("before", 0, "Succeeded", 0.2, 1.0))
    cache.apply(Kind.TRIAL, "ADDED", trial("before", 2, "Failed", 0.9, 5.0))
    cache.apply(Kind.TRIAL, "ADDED", trial("before", 3, "Succeeded", 7.0, 0.1))  # outside
    return cache


def test_succeeded_trials_of_an_earlier_study_become_warm_trials_in_index_order() -> None:
    warm = load_warm_start(
        parse_study(study("after", {"studies": ["before"]})), cache_with_before()
    )
    assert [(t.index, dict(t.params), dict(t.values)) for t in warm.trials] == [
        (-1, {"x": 0.2}, {"loss": 1.0}),
        (-2, {"x": 0.4}, {"loss": 2.0}),
    ]
    assert warm.dropped == {"outside the search space": 1}


def test_the_plan_holds_the_warm_trials_for_its_generation() -> None:
    cache = cache_with_before()
    plans = Plans(lambda s: load_warm_start(s, cache))
    plan = plans.get(("ns", "after"), study("after", {"studies": ["before"]}))
    assert isinstance(plan, Plan)
    assert len(plan.planner.warm.trials) == 2
    history = plan.planner.history([])
    assert [t.index for t in history.trials] == [-1, -2]


def refused(warm: dict[str, Any], cache: ObjectCache) -> list[str]:
    plan = Plans(lambda s: load_warm_start(s, cache)).get(("ns", "after"), study("after", warm))
    assert isinstance(plan, InvalidStudy)
    return [str(e) for e in plan.errors]


def test_a_study_that_does_not_exist_in_the_namespace_is_named() -> None:
    assert refused({"studies": ["gone"]}, ObjectCache()) == [
        "spec.warmStart.studies[0]: no TuningStudy 'gone' in namespace 'ns'; warm start reads "
        "studies of the study's own namespace"
    ]


def test_a_study_without_matching_parameters_is_named() -> None:
    cache = ObjectCache()
    cache.apply(Kind.STUDY, "ADDED", study("other", parameter="y"))
    (message,) = refused({"studies": ["other"]}, cache)
    assert message.startswith("spec.warmStart.studies[0]: study 'other' has parameters ['y']")


def test_a_results_file_is_refused_with_what_to_do_instead() -> None:
    (message,) = refused({"file": "past.csv"}, ObjectCache())
    assert message.startswith("spec.warmStart.file: the operator cannot read files")
    assert "kubetune run" in message and "spec.warmStart.studies" in message
