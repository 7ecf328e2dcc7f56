"""The operator is stateless: SIGKILLed at any moment, restarted, it loses and duplicates nothing.

Two replicas elect one leader through a Lease; the other takes over when the leader dies.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.wait import until
from tests.integration.operator_fixtures import (
    create_study,
    dump,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration


def test_sigkilled_operator_restarts_without_duplicate_or_lost_trials(
    operator, custom: client.CustomObjectsApi, namespace: str
) -> None:
    handle = operator(leader_election=False)
    create_study(
        custom,
        namespace,
        study_manifest("sturdy", max_trials=16, parallel=4, script_args=["--seconds", "1"]),
    )
    kills = 0
    while _progress(custom, namespace)[0] != "Succeeded":
        # Kill only after some progress since the last start, at varying moments, so the
        # study moves on however slowly a loaded machine starts the operator.
        before = _progress(custom, namespace)
        until(
            lambda before=before: _progress(custom, namespace),
            lambda now, before=before: now != before,
            "progress since the operator started",
            timeout=90,
        )
        time.sleep(kills % 4 * 0.3)
        handle.kill()
        kills += 1
        handle.start()

    study = wait_for_phase(custom, namespace, "sturdy")
    trials = list_trials(custom, namespace, "sturdy")
    assert kills >= 3, "the study outlived several operator processes"
    assert [t["spec"]["index"] for t in trials] == list(range(16))
    assert len({t["metadata"]["uid"] for t in trials}) == 16
    for trial in trials:
        x = trial["spec"]["parameters"]["x"]
        assert trial["status"]["phase"] == "Succeeded", dump(trial)
        assert trial["status"]["values"]["loss"] == pytest.approx(x * x)
    assert study["status"]["trials"]["succeeded"] == 16
    assert study["status"]["progress"] == "16/16"


def _progress(custom: client.CustomObjectsApi, namespace: str) -> tuple[str, int, int]:
    """(phase, trials created, trials finished) of the study."""
    status = get_study(custom, namespace, "sturdy").get("status") or {}
    trials = list_trials(custom, namespace, "sturdy")
    finished = sum(
        1
        for t in trials
        if (t.get("status") or {}).get("phase") not in (None, "Pending", "Running")
    )
    return status.get("phase", ""), len(trials), finished


def _lease(kube_api: client.ApiClient, namespace: str) -> Any:
    """The operator's Lease, or None until the first operator has created it."""
    try:
        return client.CoordinationV1Api(kube_api).read_namespaced_lease(
            "kubetune-operator", namespace
        )
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def test_only_the_leader_acts_and_a_follower_takes_over_when_it_dies(
    operator, custom: client.CustomObjectsApi, kube_api: client.ApiClient, namespace: str
) -> None:
    first = operator()
    until(
        lambda: _lease(kube_api, namespace),
        lambda lease: lease is not None and lease.spec.holder_identity == "operator-0",
        "operator-0 to lead",
        timeout=20,
    )
    second = operator()
    create_study(
        custom,
        namespace,
        study_manifest("ha", max_trials=8, parallel=2, script_args=["--seconds", "1"]),
    )
    until(lambda: list_trials(custom, namespace, "ha"), lambda t: len(t) >= 2, "trials", 30)
    assert "leading as" not in second.log()

    first.kill()
    killed = time.monotonic()
    lease = until(
        lambda: _lease(kube_api, namespace),
        lambda lease: lease is not None and lease.spec.holder_identity == "operator-1",
        "operator-1 to take over",
        timeout=20,
    )
    takeover = time.monotonic() - killed
    assert takeover < 15, f"takeover took {takeover:.1f}s"
    assert lease.spec.lease_transitions >= 1
    study = wait_for_phase(custom, namespace, "ha", timeout=90)
    assert study["status"]["phase"] == "Succeeded"
    assert [t["spec"]["index"] for t in list_trials(custom, namespace, "ha")] == list(range(8))
