"""The operator's warm start: earlier studies' Trials read from the watch cache and a results
ConfigMap, once per spec generation; a missing study or ConfigMap, one without matching
parameters, or unreadable results make the study wait, naming the field and the fix, until
they are fixed; a file is refused."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from kubetune.api.study import STUDY_LABEL
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.client import ApiError
from kubetune.kube.plans import Plan, Plans
from kubetune.kube.warm import WarmStartUnavailable, load_warm_start
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


def test_a_study_that_does_not_exist_in_the_namespace_is_named_and_waited_for() -> None:
    cache = ObjectCache()
    plans = Plans(lambda s: load_warm_start(s, cache))
    body = study("after", {"studies": ["before"]})
    plan = plans.get(("ns", "after"), body)
    assert isinstance(plan, WarmStartUnavailable)
    assert [str(e) for e in plan.errors] == [
        "spec.warmStart.studies[0]: no TuningStudy 'before' in namespace 'ns'; warm start reads "
        "studies of the study's own namespace (this study waits until it exists)"
    ]

    for kind, obj in [(Kind.STUDY, study("before"))] + [
        (Kind.TRIAL, t) for t in (trial("before", 0, "Succeeded", 0.2, 1.0),)
    ]:
        cache.apply(kind, "ADDED", obj)
    plan = plans.get(("ns", "after"), body)  # same generation: looked at again
    assert isinstance(plan, Plan) and len(plan.planner.warm.trials) == 1


def test_a_study_warm_starting_from_itself_is_invalid_not_waiting() -> None:
    plan = Plans(lambda s: load_warm_start(s, ObjectCache())).get(
        ("ns", "after"), study("after", {"studies": ["after"]})
    )
    assert isinstance(plan, InvalidStudy) and not isinstance(plan, WarmStartUnavailable)
    assert [str(e) for e in plan.errors] == [
        "spec.warmStart.studies[0]: a study cannot warm-start from itself"
    ]


def test_a_study_without_matching_parameters_is_named() -> None:
    cache = ObjectCache()
    cache.apply(Kind.STUDY, "ADDED", study("other", parameter="y"))
    (message,) = refused({"studies": ["other"]}, cache)
    assert message.startswith("spec.warmStart.studies[0]: study 'other' has parameters ['y']")


def test_a_results_file_is_refused_with_what_to_do_instead() -> None:
    (message,) = refused({"file": "past.csv"}, ObjectCache())
    assert message.startswith("spec.warmStart.file: the operator cannot read files")
    assert "spec.warmStart.configMap" in message and "spec.warmStart.studies" in message


# -- spec.warmStart.configMap ------------------------------------------------------------------

CSV = "number,params_x,value,state\n0,0.3,1.5,COMPLETE\n1,0.6,0.5,COMPLETE\n2,0.9,,FAIL\n"
SOURCE = {"configMap": {"name": "past", "key": "trials.csv"}}


class ConfigMaps:
    """The API's ConfigMaps as the reconciler's reader sees them; counts the GETs."""

    def __init__(self, **held: Mapping[str, Any]) -> None:
        self.held = dict(held)
        self.reads: list[tuple[str, str]] = []

    def __call__(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        self.reads.append((namespace, name))
        return self.held.get(name)


def config_map(data: Mapping[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "past", "namespace": "ns"}, "data": dict(data)}


def plan_of(warm: dict[str, Any], read: Any, plans: Plans | None = None) -> Plan | InvalidStudy:
    plans = plans or Plans(lambda s: load_warm_start(s, ObjectCache(), read))
    return plans.get(("ns", "after"), study("after", warm))


def test_a_results_config_map_is_parsed_like_a_local_file() -> None:
    read = ConfigMaps(past=config_map({"trials.csv": CSV}))
    plan = plan_of(SOURCE, read)
    assert isinstance(plan, Plan)
    assert [(t.index, dict(t.params), dict(t.values)) for t in plan.planner.warm.trials] == [
        (-1, {"x": 0.3}, {"loss": 1.5}),
        (-2, {"x": 0.6}, {"loss": 0.5}),
    ]
    assert read.reads == [("ns", "past")]


def test_json_results_and_binary_data_are_read() -> None:
    text = '[{"params": {"x": 0.25}, "values": {"loss": 2}}]'
    body = {"metadata": {}, "binaryData": {"p.json": base64.b64encode(text.encode()).decode()}}
    plan = plan_of({"configMap": {"name": "past", "key": "p.json"}}, ConfigMaps(past=body))
    assert isinstance(plan, Plan)
    assert [dict(t.params) for t in plan.planner.warm.trials] == [{"x": 0.25}]


def waiting_for(warm: dict[str, Any], read: Any) -> str:
    plan = plan_of(warm, read)
    assert isinstance(plan, WarmStartUnavailable), plan
    (message,) = [str(e) for e in plan.errors]
    return message


def test_a_missing_config_map_names_the_field_and_how_to_create_it() -> None:
    message = waiting_for(SOURCE, ConfigMaps())
    assert message.startswith(
        "spec.warmStart.configMap.name: no ConfigMap 'past' in namespace 'ns'; create it"
    )
    assert "kubectl create configmap past -n ns --from-file=trials.csv=PATH" in message
    assert "kubetune warm-start-configmap PATH --name past --key trials.csv" in message


def test_a_missing_key_names_the_keys_there_are() -> None:
    message = waiting_for(SOURCE, ConfigMaps(past=config_map({"other.csv": CSV})))
    assert message == (
        "spec.warmStart.configMap.key: ConfigMap 'past' has no key 'trials.csv' (its keys: "
        "['other.csv']); name one of them, or add the file under that key"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("params_x,accuracy\n0.1,0.9\n", "no column for objective 'loss': name it loss or value"),
        ("x,loss\n0.1,0.9\n", "no parameter columns: name them params.NAME or params_NAME"),
        ("params_y,loss\n0.1,0.9\n", "has parameters ['y'], none of which is a parameter"),
        ("params_x,loss\n0.1,high\n", "row 1, column 'loss': 'high' is not a number"),
    ],
)
def test_results_with_wrong_columns_name_the_key_and_the_problem(text: str, expected: str) -> None:
    message = waiting_for(SOURCE, ConfigMaps(past=config_map({"trials.csv": text})))
    assert message.startswith("spec.warmStart.configMap.key: ConfigMap 'past', key 'trials.csv': ")
    assert expected in message


def test_binary_data_that_is_not_text_is_refused() -> None:
    body = {"metadata": {}, "binaryData": {"trials.csv": base64.b64encode(b"\xff\xfe").decode()}}
    message = waiting_for(SOURCE, ConfigMaps(past=body))
    assert (
        message
        == "spec.warmStart.configMap.key: ConfigMap 'past', key 'trials.csv' is not UTF-8 text"
    )


def test_a_forbidden_read_says_which_permission_is_missing() -> None:
    def forbidden(namespace: str, name: str) -> None:
        raise ApiError(403, "Forbidden", 'configmaps "past" is forbidden')

    message = waiting_for(SOURCE, forbidden)
    assert message.startswith("spec.warmStart.configMap.name: the operator may not read")
    assert "get on configmaps" in message


def test_other_api_errors_fail_the_reconcile_so_it_is_retried() -> None:
    def unwell(namespace: str, name: str) -> None:
        raise ApiError(503, "Service Unavailable", "")

    with pytest.raises(ApiError):
        plan_of(SOURCE, unwell)


def test_a_fixed_config_map_is_picked_up_and_then_held_for_the_generation() -> None:
    read = ConfigMaps()
    plans = Plans(lambda s: load_warm_start(s, ObjectCache(), read))
    assert isinstance(plan_of(SOURCE, read, plans), WarmStartUnavailable)
    read.held["past"] = config_map({"trials.csv": "params_x\n0.1\n"})
    assert isinstance(plan_of(SOURCE, read, plans), WarmStartUnavailable)  # no value column
    read.held["past"] = config_map({"trials.csv": CSV})

    plan = plan_of(SOURCE, read, plans)
    assert isinstance(plan, Plan) and len(plan.planner.warm.trials) == 2
    assert plan_of(SOURCE, read, plans) is plan  # held: no more GETs this generation
    assert len(read.reads) == 3


def test_a_config_map_key_must_say_its_format() -> None:
    with pytest.raises(InvalidStudy, match=r"spec\.warmStart\.configMap\.key: .*must end in \.csv"):
        parse_study(study("after", {"configMap": {"name": "past", "key": "results"}}))


def test_both_kinds_of_problem_are_reported_together_as_invalid() -> None:
    plan = plan_of({"file": "past.csv", **SOURCE}, ConfigMaps())
    assert isinstance(plan, InvalidStudy) and not isinstance(plan, WarmStartUnavailable)
    fields = [e.path for e in plan.errors]
    assert fields == ["spec.warmStart.file", "spec.warmStart.configMap.name"]
