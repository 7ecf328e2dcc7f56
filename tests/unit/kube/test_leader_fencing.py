"""A leader that stopped renewing steps down before a candidate may take over, and its
reconciles' writes are refused from then on (fencing) while reads still work."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from kubetune.kube import leader as leader_module
from kubetune.kube.client import Kube, NotLeading
from kubetune.kube.leader import LeaderElector


def _elector(duration: float, renew: float) -> LeaderElector:
    kube = Kube(kubernetes.client.Configuration(), pool_size=1, timeout_seconds=1)
    return LeaderElector(kube, "ns", "lease", "me", duration, renew, lambda: None)


def test_a_leader_steps_down_one_renew_period_before_the_lease_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    elector = _elector(duration=15, renew=5)
    clock = [100.0]
    monkeypatch.setattr(leader_module.time, "monotonic", lambda: clock[0])
    elector._became_leader()
    clock[0] += 9.9
    assert elector.is_leader()
    clock[0] += 0.2  # 10.1 s unrenewed: past the renew deadline, still inside the lease
    assert not elector.is_leader()


def test_a_very_short_renew_period_keeps_half_the_lease_as_deadline() -> None:
    assert _elector(duration=4, renew=3).renew_deadline == 2


def test_a_fenced_kube_refuses_writes_but_reads_when_not_leading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube = Kube(kubernetes.client.Configuration(), pool_size=1, timeout_seconds=1)
    sent: list[str] = []

    def call_api(method: str, url: str, **_: Any) -> Any:
        sent.append(method)
        status = 404 if method == "GET" else 409  # answers the Kube turns into None
        raise kubernetes.client.exceptions.ApiException(status=status, reason="")

    monkeypatch.setattr(kube._api, "call_api", call_api)
    fenced = kube.fenced(lambda: False)
    with pytest.raises(NotLeading, match="no longer leads"):
        fenced.create("/api/v1/namespaces/ns/pods", {})
    with pytest.raises(NotLeading):
        fenced.patch("/api/v1/namespaces/ns/pods/p", {})
    assert fenced.get("/api/v1/namespaces/ns/pods/p") is None  # reads pass the fence
    assert kube.create("/api/v1/namespaces/ns/pods", {}) is None  # the unfenced Kube sends it
    assert sent == ["GET", "POST"]
