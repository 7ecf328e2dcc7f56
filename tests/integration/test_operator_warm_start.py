"""Warm start on the real control plane: a study starts from an earlier study's Trials in
its namespace, or from a results ConfigMap, without spending its own budget on them; a file
is refused with InvalidSpec naming the field; a missing study or ConfigMap, or results with
wrong columns, keep the study Pending (WarmStartUnavailable, naming the field) until fixed."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    condition,
    create_study,
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def test_a_study_warm_starts_from_an_earlier_study_of_its_namespace(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(custom, namespace, study_manifest("before", max_trials=4, parallel=4))
    before = wait_for_phase(custom, namespace, "before", timeout=90)
    assert before["status"]["phase"] == "Succeeded", dump(before["status"])

    warm = {"warmStart": {"studies": ["before"]}}
    manifest = study_manifest("after", max_trials=2, parallel=1, algorithm="tpe", extra_spec=warm)
    create_study(custom, namespace, manifest)
    after = wait_for_phase(custom, namespace, "after", timeout=90)

    assert after["status"]["phase"] == "Succeeded", dump(after["status"])
    assert condition(after, "Succeeded")["reason"] == "BudgetExhausted"
    assert after["status"]["trials"]["total"] == 2  # the four warm trials are not its own
    trials = list_trials(custom, namespace, "after")
    assert sorted(t["metadata"]["name"] for t in trials) == ["after-0", "after-1"]
    assert after["status"]["bestTrial"]["name"].startswith("after-")


def test_a_file_the_operator_cannot_read_fails_naming_the_field(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    manifest = study_manifest(
        "fromfile", algorithm="tpe", extra_spec={"warmStart": {"file": "p.csv"}}
    )
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "fromfile", timeout=30)

    failed = condition(study, "Failed")
    assert study["status"]["phase"] == "Failed", dump(study["status"])
    assert failed is not None and failed["reason"] == "InvalidSpec"
    assert "spec.warmStart.file: the operator cannot read files" in failed["message"]
    assert "spec.warmStart.configMap" in failed["message"]
    assert list_trials(custom, namespace, "fromfile") == []


def waiting_message(custom: client.CustomObjectsApi, namespace: str, name: str, text: str) -> str:
    """The study's Running=False message once it is WarmStartUnavailable and contains ``text``."""

    def running() -> dict | None:
        return condition(get_study(custom, namespace, name), "Running")

    found = until(
        running,
        lambda c: c is not None and c["reason"] == "WarmStartUnavailable" and text in c["message"],
        f"study {name} waiting with {text!r}",
        timeout=30,
    )
    study = get_study(custom, namespace, name)
    assert study["status"]["phase"] == "Pending", dump(study["status"])
    assert found["status"] == "False"
    assert list_trials(custom, namespace, name) == []
    return str(found["message"])


def test_a_results_config_map_is_waited_for_refused_while_wrong_and_used_once_fixed(
    operator, kube_api: client.ApiClient, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator(warm_start_retry_seconds=1)
    core = client.CoreV1Api(kube_api)
    source = {"configMap": {"name": "past", "key": "trials.csv"}}
    manifest = study_manifest(
        "cm", max_trials=2, parallel=1, algorithm="tpe", extra_spec={"warmStart": source}
    )
    create_study(custom, namespace, manifest)

    message = waiting_message(custom, namespace, "cm", "spec.warmStart.configMap.name")
    assert f"no ConfigMap 'past' in namespace '{namespace}'" in message
    assert "kubectl create configmap past" in message

    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="past"), data={"trials.csv": "params_x,accuracy\n1,2\n"}
    )
    core.create_namespaced_config_map(namespace, body)
    message = waiting_message(custom, namespace, "cm", "spec.warmStart.configMap.key")
    assert "no column for objective 'loss'" in message

    rows = "number,params_x,value,state\n0,0.5,0.25,COMPLETE\n1,-1.0,1.0,COMPLETE\n"
    body.data = {"trials.csv": rows}
    core.replace_namespaced_config_map("past", namespace, body)
    study = wait_for_phase(custom, namespace, "cm", timeout=90)

    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert study["status"]["trials"]["total"] == 2  # the two warm trials are not its own
    assert [t["metadata"]["name"] for t in list_trials(custom, namespace, "cm")] == ["cm-0", "cm-1"]


def test_a_missing_earlier_study_is_waited_for(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator(warm_start_retry_seconds=1)
    warm = {"warmStart": {"studies": ["before"]}}
    create_study(
        custom,
        namespace,
        study_manifest("after", max_trials=1, parallel=1, algorithm="tpe", extra_spec=warm),
    )
    message = waiting_message(custom, namespace, "after", "spec.warmStart.studies[0]")
    assert f"no TuningStudy 'before' in namespace '{namespace}'" in message

    create_study(custom, namespace, study_manifest("before", max_trials=2, parallel=2))
    after = wait_for_phase(custom, namespace, "after", timeout=90)
    assert after["status"]["phase"] == "Succeeded", dump(after["status"])
