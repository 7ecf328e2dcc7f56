"""A TuningStudy runs to its end on the real control plane: Trials, Jobs, runner reports."""

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


def test_random_study_completes_with_exactly_max_trials(
    operator, custom: client.CustomObjectsApi, kube_api: client.ApiClient, namespace: str
) -> None:
    operator()
    create_study(
        custom,
        namespace,
        study_manifest(
            "quad", max_trials=8, parallel=4, script_args=["--seconds", "0.5", "--steps", "2"]
        ),
    )

    study = wait_for_phase(custom, namespace, "quad")

    status = study["status"]
    trials = list_trials(custom, namespace, "quad")
    assert status["phase"] == "Succeeded", dump(status)
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    assert [t["spec"]["index"] for t in trials] == list(range(8))
    assert status["trials"] == {
        "total": 8,
        "pending": 0,
        "running": 0,
        "succeeded": 8,
        "failed": 0,
        "pruned": 0,
        "stopped": 0,
    }
    assert status["progress"] == "8/8"
    # Every trial's pod ran kubetune-runner, which reported loss = x² into the Trial.
    for trial in trials:
        x = trial["spec"]["parameters"]["x"]
        assert trial["status"]["phase"] == "Succeeded", dump(trial)
        assert trial["status"]["values"]["loss"] == pytest.approx(x * x)
        assert trial["status"]["value"] == pytest.approx(x * x)
        assert trial["status"]["intermediate"], "the runner reported intermediate steps"
        assert trial["status"]["exitCode"] == 0
    best = min(trials, key=lambda t: t["status"]["values"]["loss"])
    assert status["bestTrial"]["name"] == best["metadata"]["name"]
    assert status["bestValue"] == pytest.approx(best["status"]["values"]["loss"])
    # Ownership: the study owns its Trials and their Jobs (created at once), so deleting
    # the study removes everything.
    job = client.BatchV1Api(kube_api).read_namespaced_job("quad-3", namespace)
    assert (job.metadata.owner_references[0].kind, job.metadata.owner_references[0].uid) == (
        "TuningStudy",
        trials[3]["metadata"]["ownerReferences"][0]["uid"],
    )
    assert trials[3]["metadata"]["ownerReferences"][0]["kind"] == "TuningStudy"
    assert job.spec.template.spec.service_account_name == "kubetune-trial"


def test_failed_trials_end_the_study_and_other_studies_go_on(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    # |x| > -1 always: every trial exits 3.
    create_study(
        custom,
        namespace,
        study_manifest(
            "broken", max_trials=10, parallel=2, max_failed=2, script_args=["--fail-above", "-1"]
        ),
    )
    create_study(custom, namespace, study_manifest("healthy", max_trials=4, parallel=2))

    broken = wait_for_phase(custom, namespace, "broken")
    healthy = wait_for_phase(custom, namespace, "healthy")

    assert broken["status"]["phase"] == "Failed", dump(broken["status"])
    failed = condition(broken, "Failed")
    assert failed["reason"] == "TooManyFailedTrials"
    # More than maxFailedTrials (2); two trials may fail in the same moment.
    assert broken["status"]["trials"]["failed"] in (3, 4)
    trials = list_trials(custom, namespace, "broken")
    failures = [t for t in trials if t["status"]["phase"] == "Failed"]
    assert {t["status"]["exitCode"] for t in failures} == {3}
    assert all(t["status"]["phase"] in ("Failed", "Stopped") for t in trials), dump(trials)
    assert healthy["status"]["phase"] == "Succeeded"
    assert healthy["status"]["trials"]["succeeded"] == 4


def test_trial_exiting_zero_without_its_metric_fails_with_metrics_missing(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(
        custom,
        namespace,
        study_manifest("silent", max_trials=2, parallel=2, script_args=["--no-report"]),
    )

    study = wait_for_phase(custom, namespace, "silent")

    trials = list_trials(custom, namespace, "silent")
    assert [t["status"]["reason"] for t in trials] == ["MetricsMissing"] * 2
    assert "loss" in trials[0]["status"]["message"]
    assert study["status"]["trials"]["failed"] == 2


def test_semantically_invalid_study_fails_with_invalid_spec_naming_the_field(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(custom, namespace, study_manifest("gridfloat", algorithm="grid"))

    study = wait_for_phase(custom, namespace, "gridfloat", timeout=30)

    failed = condition(study, "Failed")
    assert study["status"]["phase"] == "Failed"
    assert failed["reason"] == "InvalidSpec"
    assert "spec.algorithm" in failed["message"] or "spec.parameters" in failed["message"]
    assert list_trials(custom, namespace, "gridfloat") == []


def test_raising_max_trials_continues_a_finished_study(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(custom, namespace, study_manifest("more", max_trials=2, parallel=2))
    wait_for_phase(custom, namespace, "more")

    custom.patch_namespaced_custom_object(
        "kubetune.dev",
        "v1alpha1",
        namespace,
        "tuningstudies",
        "more",
        {"spec": {"budget": {"maxTrials": 4}}},
    )
    study = until(
        lambda: get_study(custom, namespace, "more"),
        lambda s: s["status"]["progress"] == "4/4" and s["status"]["phase"] == "Succeeded",
        "the study to run two more trials",
        timeout=60,
    )

    assert study["status"]["phase"] == "Succeeded"
    assert study["status"]["observedGeneration"] == study["metadata"]["generation"]
    assert [t["spec"]["index"] for t in list_trials(custom, namespace, "more")] == [0, 1, 2, 3]
    assert get_study(custom, namespace, "more")["status"]["progress"] == "4/4"
