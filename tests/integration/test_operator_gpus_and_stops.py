"""Pending trials say why (GPUs, a quota); a reached goal stops the trials still running."""

from __future__ import annotations

import time

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


def test_eight_parallel_one_gpu_trials_run_four_at_a_time_on_four_gpus(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    create_study(
        custom,
        namespace,
        study_manifest("gpus", max_trials=8, parallel=8, gpus=1, script_args=["--seconds", "4"]),
    )

    def phases() -> list[tuple[str, str, str]]:
        return [
            (
                (t.get("status") or {}).get("phase", ""),
                (t.get("status") or {}).get("reason", ""),
                (t.get("status") or {}).get("message", ""),
            )
            for t in list_trials(custom, namespace, "gpus")
        ]

    # A pending trial's pod first waits for the scheduler ("Scheduling"), then says why it
    # cannot run: wait for the reasons, not for the first moment the counts match.
    seen = until(
        phases,
        lambda p: (
            sum(1 for phase, _, _ in p if phase == "Running") == 4
            and sum(1 for phase, reason, _ in p if (phase, reason) == ("Pending", "WaitingForGPU"))
            == 4
        ),
        "4 trials running and 4 pending for want of a GPU",
        timeout=60,
    )
    pending = [(reason, message) for phase, reason, message in seen if phase == "Pending"]
    assert {reason for reason, _ in pending} == {"WaitingForGPU"}, pending
    assert all("Insufficient nvidia.com/gpu" in message for _, message in pending), pending
    study = get_study(custom, namespace, "gpus")
    assert study["status"]["trials"]["running"] + study["status"]["trials"]["pending"] == 8

    most_running = 0
    deadline = time.monotonic() + 60
    while get_study(custom, namespace, "gpus")["status"]["phase"] != "Succeeded":
        assert time.monotonic() < deadline, dump(phases())
        most_running = max(most_running, sum(1 for p, _, _ in phases() if p == "Running"))
        time.sleep(0.3)
    assert most_running <= 4
    study = get_study(custom, namespace, "gpus")
    assert study["status"]["trials"]["succeeded"] == 8
    assert study["status"]["gpuSeconds"] >= 8 * 3  # 8 trials x ~4 s x 1 GPU (whole seconds)


def test_goal_reached_stops_running_trials_and_the_study_succeeds(
    operator, custom: client.CustomObjectsApi, kube_api: client.ApiClient, namespace: str
) -> None:
    operator(stop_grace_seconds=10)  # the runners must stop by themselves, within the grace
    manifest = study_manifest(
        "goal",
        max_trials=6,
        parallel=3,
        objective={"metric": "loss", "direction": "minimize", "target": 0.01},
        # Trial 0 evaluates x=0 (loss 0, the goal) at once; the others would take 120 s.
        script_args=["--seconds", "120", "--steps", "120", "--quick-below", "0.05"],
        extra_spec={"initialTrials": [{"x": 0.0}]},
    )
    create_study(custom, namespace, manifest)
    started = time.monotonic()

    study = wait_for_phase(custom, namespace, "goal", timeout=60)

    assert time.monotonic() - started < 30, "running trials were stopped, not waited for"
    assert study["status"]["phase"] == "Succeeded", dump(study["status"])
    assert condition(study, "Succeeded")["reason"] == "GoalReached"
    trials = list_trials(custom, namespace, "goal")
    assert trials[0]["status"]["phase"] == "Succeeded"
    assert [t["status"]["phase"] for t in trials[1:]] == ["Stopped"] * (len(trials) - 1)
    for trial in trials[1:]:
        assert trial["spec"]["stop"] is True
        assert trial["status"]["reason"] == "StudyEnded"
        assert "GoalReached" in trial["spec"]["stopReason"]
    assert study["status"]["trials"]["running"] == 0
    # The runner saw spec.stop and ended its program: the pods are done, not killed.
    core = client.CoreV1Api(kube_api)
    pods = core.list_namespaced_pod(namespace, label_selector="kubetune.dev/study=goal").items
    assert all(p.status.phase in ("Succeeded", "Failed") for p in pods), [
        (p.metadata.name, p.status.phase) for p in pods
    ]


def test_early_stopped_trials_end_pruned_through_the_stop_protocol(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    operator()
    # Losses above 1.0 at step 2 are pruned; x in [1.2, 2] always has loss > 1.4.
    manifest = study_manifest(
        "pruning",
        max_trials=4,
        parallel=4,
        parameters=[{"name": "x", "type": "float", "low": 1.2, "high": 2.0}],
        script_args=["--seconds", "60", "--steps", "60"],
        extra_spec={
            "earlyStopping": {"rule": "threshold", "settings": {"value": 1.0, "startStep": 2}}
        },
    )
    create_study(custom, namespace, manifest)

    study = wait_for_phase(custom, namespace, "pruning", timeout=60)

    trials = list_trials(custom, namespace, "pruning")
    assert [t["status"]["phase"] for t in trials] == ["Pruned"] * 4, dump(trials)
    for trial in trials:
        assert trial["metadata"]["annotations"]["kubetune.dev/pruned"] == "true"
        assert trial["status"]["reason"] == "EarlyStopped"
        assert trial["status"]["intermediate"], "the curve up to the stop is kept"
    assert study["status"]["trials"]["pruned"] == 4
    assert study["status"]["phase"] == "Succeeded"


def test_a_trial_whose_pod_a_quota_forbids_is_pending_with_the_quota_message(
    operator, custom: client.CustomObjectsApi, kube_api: client.ApiClient, namespace: str
) -> None:
    client.CoreV1Api(kube_api).create_namespaced_resource_quota(
        namespace,
        {"metadata": {"name": "no-pods"}, "spec": {"hard": {"count/pods": "0"}}},
    )
    operator(job_events_interval_seconds=1)
    create_study(custom, namespace, study_manifest("quota", max_trials=2, parallel=2))

    def statuses() -> list[dict]:
        return [t.get("status") or {} for t in list_trials(custom, namespace, "quota")]

    seen = until(
        statuses,
        lambda s: len(s) == 2 and all(t.get("reason") == "QuotaExceeded" for t in s),
        "both trials Pending with reason QuotaExceeded",
        timeout=45,
    )
    for status in seen:
        assert status["phase"] == "Pending"
        assert "exceeded quota: no-pods" in status["message"], status
    assert get_study(custom, namespace, "quota")["status"]["trials"]["pending"] == 2
