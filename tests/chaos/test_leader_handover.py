"""Two operator replicas with leader election; the leader loses its Lease mid-study.

First the leader is paused (SIGSTOP) until the other replica has taken the Lease over, then
resumed: it wakes mid-reconcile with a stale cache and must not write (its writes go through
the leader fence, `Kube.fenced`). Then the new leader is SIGKILLed and the first takes over
again. Nothing may launch twice: no index twice, no program run twice
(`ground_truth.assert_nothing_lost`, with no retries counted).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from kubernetes import client

from tests.chaos.ground_truth import assert_nothing_lost, progress, recorded_study
from tests.cluster.wait import until
from tests.integration.operator_fixtures import OperatorProcess, create_study

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_TRIALS = 36
PARALLEL = 6
TRIAL_SECONDS = 1.0
LEASE = "kubetune-operator"


def _holder(kube_api: client.ApiClient, namespace: str) -> str:
    try:
        lease = client.CoordinationV1Api(kube_api).read_namespaced_lease(LEASE, namespace)
    except client.ApiException as error:
        if error.status == 404:
            return ""
        raise
    return lease.spec.holder_identity or ""


def _identity(handle: OperatorProcess) -> str:
    return handle.argv[handle.argv.index("--identity") + 1]


def _more_progress(custom: client.CustomObjectsApi, namespace: str, what: str) -> None:
    before = progress(custom, namespace, "handover")
    until(
        lambda: progress(custom, namespace, "handover"),
        lambda now: now[2] > before[2] or now[0] == "Succeeded",
        what,
        timeout=120,
    )


def test_a_leader_that_loses_its_lease_never_launches_twice(
    operator,
    kube_api: client.ApiClient,
    custom: client.CustomObjectsApi,
    namespace: str,
    tmp_path: Path,
) -> None:
    replicas = {}
    for _ in range(2):
        handle = operator(leader_election=True)
        replicas[_identity(handle)] = handle
    truth = tmp_path / "truth"
    manifest = recorded_study(
        "handover", truth, max_trials=MAX_TRIALS, parallel=PARALLEL, seconds=TRIAL_SECONDS
    )
    create_study(custom, namespace, manifest)
    _more_progress(custom, namespace, "a trial finished under the first leader")

    first = until(lambda: _holder(kube_api, namespace), bool, "a leader", timeout=30)
    (second,) = set(replicas) - {first}
    paused = replicas[first].process
    assert paused is not None
    os.killpg(paused.pid, signal.SIGSTOP)
    try:
        until(
            lambda: _holder(kube_api, namespace),
            lambda holder: holder == second,
            f"{second} to take the lease over from the paused {first}",
            timeout=60,
        )
        _more_progress(custom, namespace, f"a trial finished under {second}")
    finally:
        os.killpg(paused.pid, signal.SIGCONT)  # it wakes mid-reconcile, no longer leading

    _more_progress(custom, namespace, "progress after the old leader woke")
    replicas[second].kill()
    until(
        lambda: _holder(kube_api, namespace),
        lambda holder: holder == first,
        f"{first} to lead again after {second} was killed",
        timeout=60,
    )

    trials = assert_nothing_lost(custom, namespace, "handover", truth, MAX_TRIALS)
    assert not [t for t in trials if t["status"].get("retries")], "a pod was lost"
