"""Warm start on the real control plane: a study starts from an earlier study's Trials in
its namespace without spending its own budget on them; a missing study and a file are
refused with InvalidSpec naming the field."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.integration.operator_fixtures import (
    condition,
    create_study,
    dump,
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


@pytest.mark.parametrize(
    ("name", "warm", "expected"),
    [
        (
            "nosource",
            {"studies": ["missing"]},
            "spec.warmStart.studies[0]: no TuningStudy 'missing' in namespace",
        ),
        ("fromfile", {"file": "past.csv"}, "spec.warmStart.file: the operator cannot read files"),
    ],
)
def test_a_warm_start_the_operator_cannot_use_fails_naming_the_field(
    operator, custom: client.CustomObjectsApi, namespace: str, name: str, warm: dict, expected: str
) -> None:
    operator()
    manifest = study_manifest(name, algorithm="tpe", extra_spec={"warmStart": warm})
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, name, timeout=30)

    failed = condition(study, "Failed")
    assert study["status"]["phase"] == "Failed", dump(study["status"])
    assert failed is not None and failed["reason"] == "InvalidSpec"
    assert expected in failed["message"]
    assert list_trials(custom, namespace, name) == []
