"""`spec.suspend` holds new launches, running trials finish; `timeoutSeconds` ends a study."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    GROUP,
    VERSION,
    condition,
    create_study,
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def set_suspend(custom: client.CustomObjectsApi, namespace: str, name: str, value: bool) -> None:
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningstudies", name, {"spec": {"suspend": value}}
    )


def test_a_suspended_study_launches_nothing_new_and_resumes_when_unset(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(
        custom,
        namespace,
        study_manifest("paused", max_trials=6, parallel=2, script_args=["--seconds", "3"]),
    )
    until(
        lambda: list_trials(custom, namespace, "paused"),
        lambda trials: len(trials) >= 2,
        "the first two trials",
        timeout=30,
    )
    set_suspend(custom, namespace, "paused", True)

    study = wait_for_phase(custom, namespace, "paused", phases=("Suspended",), timeout=30)
    assert condition(study, "Running")["reason"] == "Suspended", dump(study["status"])
    launched = len(list_trials(custom, namespace, "paused"))
    assert launched < 6
    # The running trials finish; no new one starts while suspended, for several reconciles.
    until(
        lambda: get_study(custom, namespace, "paused")["status"]["trials"],
        lambda counts: counts["running"] + counts["pending"] == 0,
        "the running trials to finish",
        timeout=60,
    )
    time.sleep(6)  # three reconcile intervals of the test operator
    trials = list_trials(custom, namespace, "paused")
    assert len(trials) == launched, dump(trials)
    assert get_study(custom, namespace, "paused")["status"]["phase"] == "Suspended"

    set_suspend(custom, namespace, "paused", False)

    study = wait_for_phase(custom, namespace, "paused", timeout=90)
    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "BudgetExhausted"
    assert study["status"]["trials"]["succeeded"] == 6


def test_timeout_ends_the_study_timed_out_and_stops_its_running_trials(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator(stop_grace_seconds=10)  # the runners must stop by themselves, within the grace
    manifest = study_manifest(
        "late", max_trials=10, parallel=2, script_args=["--seconds", "120", "--steps", "120"]
    )
    manifest["spec"]["budget"]["timeoutSeconds"] = 6
    create_study(custom, namespace, manifest)
    started = time.monotonic()
    until(
        lambda: get_study(custom, namespace, "late").get("status") or {},
        lambda status: (status.get("trials") or {}).get("running", 0) == 2,
        "two trials running",
        timeout=30,
    )

    study = wait_for_phase(custom, namespace, "late", timeout=60)

    assert time.monotonic() - started < 40, "running trials were stopped, not waited for"
    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "TimedOut"
    trials = list_trials(custom, namespace, "late")
    assert len(trials) == 2, dump(trials)
    for trial in trials:
        assert trial["status"]["phase"] == "Stopped", dump(trial)
        assert trial["status"]["reason"] == "StudyEnded"
        assert "TimedOut" in trial["spec"]["stopReason"]
    assert study["status"]["trials"]["running"] == 0
