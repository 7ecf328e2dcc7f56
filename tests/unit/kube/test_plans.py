"""A study's plan is built once per (uid, generation), and a bad spec says which field."""

from __future__ import annotations

from typing import Any

from kubetune.kube.plans import Plan, Plans
from kubetune.validation import InvalidStudy


def study(generation: int = 1, uid: str = "u-1", high: float = 1.0) -> dict[str, Any]:
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "s", "namespace": "ns", "uid": uid, "generation": generation},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0, "high": high}],
            "budget": {"maxTrials": 3},
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["r"]}]}}}
            },
        },
    }


def test_the_plan_is_kept_while_uid_and_generation_stay() -> None:
    plans = Plans()
    first = plans.get(("ns", "s"), study())
    assert isinstance(first, Plan)
    assert plans.get(("ns", "s"), study()) is first
    assert plans.get(("ns", "s"), study(generation=2)) is not first
    assert plans.get(("ns", "s"), study(generation=2, uid="u-2")) is not first


def test_a_spec_that_cannot_run_names_the_field() -> None:
    refused = Plans().get(("ns", "s"), study(high=-1.0))
    assert isinstance(refused, InvalidStudy)
    assert any("parameters" in str(error) for error in refused.errors)


def test_forgetting_a_study_rebuilds_its_plan() -> None:
    plans = Plans()
    first = plans.get(("ns", "s"), study())
    plans.forget(("ns", "s"))
    assert plans.get(("ns", "s"), study()) is not first


def test_a_study_that_hands_on_checkpoints_needs_a_place_for_them_on_a_cluster() -> None:
    pbt = study()
    pbt["spec"]["algorithm"] = {"name": "pbt", "settings": {"populationSize": 2}}
    pbt["spec"]["budget"] = {"maxTrials": 6, "resource": {"name": "steps", "min": 1, "max": 3}}
    refused = Plans().get(("ns", "s"), pbt)
    assert isinstance(refused, InvalidStudy)
    assert [e.path for e in refused.errors] == ["spec.trialTemplate.checkpoints"]
    assert "persistentVolumeClaim" in str(refused) and "uri" in str(refused)
    pbt["spec"]["trialTemplate"]["checkpoints"] = {"uri": "s3://bucket/runs"}
    assert isinstance(Plans().get(("ns", "s"), pbt), Plan)
