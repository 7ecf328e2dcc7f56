"""One reconcile against an in-memory API: what it creates, deletes, writes and announces.

The real control plane runs the same paths in tests/integration; this fake keeps the order
of the steps (observe, decide, stop, launch, write) checkable in a second.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubetune.kube import observe
from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.objects import STOP_REQUESTED_ANNOTATION, TRIAL_LABEL
from kubetune.kube.reconciler import Reconciler
from kubetune.kube.settings import OperatorSettings
from kubetune.kube.trial_status import format_time

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
KEY = ("ns", "s")
STUDY_PATH = "/apis/kubetune.dev/v1alpha1/namespaces/ns/tuningstudies/s"


class FakeKube:
    """Objects by path; every call recorded as (method, path)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self._versions = itertools.count(100)

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        metadata = body.setdefault("metadata", {})
        metadata["resourceVersion"] = str(next(self._versions))
        metadata.setdefault("uid", f"uid-{metadata.get('name')}")
        return body

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append(("POST", path))
        full = f"{path}/{body['metadata']['name']}"
        if full in self.objects:
            return None
        self.objects[full] = self._stamp(dict(body))
        return self.objects[full]

    def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("GET", path))
        return self.objects.get(path)

    def patch(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append(("PATCH", path))
        target = self.objects.get(path.removesuffix("/status"))
        if target is None:
            return None
        for part, fields in body.items():
            if part == "metadata":
                target["metadata"].setdefault("annotations", {}).update(fields["annotations"])
            else:
                target.setdefault(part, {}).update(fields)
        return self._stamp(target)

    def delete(self, path: str, propagation: str = "Background") -> bool:
        self.calls.append(("DELETE", path))
        return self.objects.pop(path, None) is not None

    def list(self, path: str, label_selector: str | None = None, field_selector: str | None = None):
        return {"items": []}

    def posted(self, kind: str) -> list[str]:
        return [p for method, p in self.calls if method == "POST" and p.endswith(f"/{kind}")]


STUDY = {
    "apiVersion": "kubetune.dev/v1alpha1",
    "kind": "TuningStudy",
    "metadata": {"name": "s", "namespace": "ns", "uid": "study-uid", "generation": 1},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [{"name": "x", "type": "float", "low": 0, "high": 1}],
        "budget": {"maxTrials": 4, "parallelTrials": 2},
        "seed": 1,
        "trialTemplate": {
            "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["run"]}]}}}
        },
    },
}


@pytest.fixture
def world() -> Iterator[tuple[FakeKube, ObjectCache, Reconciler]]:
    kube = FakeKube()
    kube.objects[STUDY_PATH] = {**STUDY, "metadata": dict(STUDY["metadata"])}
    cache = ObjectCache()
    cache.apply(
        Kind.STUDY, None, {**STUDY, "metadata": {**STUDY["metadata"], "resourceVersion": "1"}}
    )
    with ThreadPoolExecutor(4) as pool:
        reconciler = Reconciler(
            kube,  # type: ignore[arg-type]
            cache,
            OperatorSettings(stop_grace_seconds=30.0),
            pool,
            EventRecorder(kube, pool),  # type: ignore[arg-type]
            JobEvents(kube, 10.0),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        yield kube, cache, reconciler


def test_a_new_study_launches_its_parallel_trials_and_says_it_started(world) -> None:
    kube, cache, reconciler = world
    wait = reconciler.reconcile(KEY)

    assert sorted(cache.get(Kind.TRIAL, KEY)) == ["s-0", "s-1"]
    assert sorted(cache.get(Kind.JOB, KEY)) == ["s-0", "s-1"]
    assert len(kube.posted("trials")) == 2 and len(kube.posted("jobs")) == 2
    status = kube.objects[STUDY_PATH]["status"]
    assert (status["phase"], status["trials"]["pending"], status["progress"]) == (
        "Running",
        2,
        "0/4",
    )
    assert cache.study(KEY)["status"]["phase"] == "Running"  # the answer went into the cache
    assert wait == OperatorSettings().reconcile_interval_seconds


def test_a_second_reconcile_creates_nothing_more(world) -> None:
    kube, _, reconciler = world
    reconciler.reconcile(KEY)
    creates = len(kube.posted("trials")) + len(kube.posted("jobs"))
    reconciler.reconcile(KEY)
    assert len(kube.posted("trials")) + len(kube.posted("jobs")) == creates


def test_a_trial_whose_job_is_missing_gets_it(world) -> None:
    kube, cache, reconciler = world
    reconciler.reconcile(KEY)
    path = "/apis/batch/v1/namespaces/ns/jobs/s-1"
    del kube.objects[path]
    cache.forget(Kind.JOB, KEY, "s-1")
    reconciler.reconcile(KEY)
    assert path in kube.objects and "s-1" in cache.get(Kind.JOB, KEY)


def _stop(kube: FakeKube, cache: ObjectCache, name: str, asked: datetime) -> None:
    trial = kube.objects[f"/apis/kubetune.dev/v1alpha1/namespaces/ns/trials/{name}"]
    trial["spec"]["stop"] = True
    trial["metadata"]["annotations"] = {STOP_REQUESTED_ANNOTATION: format_time(asked)}
    trial["metadata"]["resourceVersion"] = "999"
    cache.apply(Kind.TRIAL, None, trial)
    pod = {
        "metadata": {
            "name": f"{name}-pod",
            "namespace": "ns",
            "resourceVersion": "1",
            "labels": {"kubetune.dev/study": "s", TRIAL_LABEL: name},
            "creationTimestamp": "2026-01-01T11:00:00Z",
        },
        "spec": {"nodeName": "node-0"},
        "status": {"phase": "Running", "startTime": "2026-01-01T11:00:00Z"},
    }
    cache.apply(Kind.POD, None, pod)


def test_a_stopping_trial_keeps_its_job_during_the_grace_period(world) -> None:
    kube, cache, reconciler = world
    reconciler.reconcile(KEY)
    _stop(kube, cache, "s-0", NOW - timedelta(seconds=10))
    wait = reconciler.reconcile(KEY)
    assert ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/s-0") not in kube.calls
    assert wait == pytest.approx(20.0)


def test_a_stopping_trial_past_its_grace_period_loses_its_job(world) -> None:
    kube, cache, reconciler = world
    reconciler.reconcile(KEY)
    _stop(kube, cache, "s-0", NOW - timedelta(seconds=40))
    reconciler.reconcile(KEY)
    assert ("DELETE", "/apis/batch/v1/namespaces/ns/jobs/s-0") in kube.calls
    assert "s-0" not in cache.get(Kind.JOB, KEY)


def test_an_invalid_spec_creates_nothing(world) -> None:
    kube, cache, reconciler = world
    broken = {**STUDY, "spec": {**STUDY["spec"], "parameters": []}}
    broken["metadata"] = {**STUDY["metadata"], "generation": 2, "resourceVersion": "2"}
    cache.apply(Kind.STUDY, None, broken)
    assert reconciler.reconcile(KEY) is None
    assert kube.posted("trials") == [] and kube.posted("jobs") == []


def test_a_deleted_study_is_forgotten(world) -> None:
    kube, cache, reconciler = world
    cache.apply(
        Kind.STUDY, "DELETED", {**STUDY, "metadata": {**STUDY["metadata"], "resourceVersion": "5"}}
    )
    assert reconciler.reconcile(KEY) is None
    assert kube.calls == []


CLAIM_PATH = "/api/v1/namespaces/ns/persistentvolumeclaims/ckpt"


def _with_checkpoint_claim(cache: ObjectCache) -> None:
    template = {
        **STUDY["spec"]["trialTemplate"],
        "checkpoints": {"persistentVolumeClaim": {"claimName": "ckpt"}},
    }
    study = {**STUDY, "spec": {**STUDY["spec"], "trialTemplate": template}}
    study["metadata"] = {**STUDY["metadata"], "generation": 2, "resourceVersion": "2"}
    cache.apply(Kind.STUDY, None, study)


def test_a_missing_checkpoint_claim_launches_nothing_and_names_the_claim(world) -> None:
    kube, cache, reconciler = world
    _with_checkpoint_claim(cache)
    wait = reconciler.reconcile(KEY)

    assert kube.posted("trials") == [] and kube.posted("jobs") == []
    status = kube.objects[STUDY_PATH]["status"]
    assert status["phase"] == "Pending"
    (running,) = [c for c in status["conditions"] if c["type"] == "Running"]
    assert (running["status"], running["reason"]) == ("False", "CheckpointClaimMissing")
    assert running["message"].startswith(
        "spec.trialTemplate.checkpoints.persistentVolumeClaim.claimName: "
        "PersistentVolumeClaim 'ckpt' does not exist in namespace 'ns'; create it"
    )
    assert wait == OperatorSettings().retry_seconds  # nothing watches claims: look again soon


def test_a_study_held_for_its_claim_launches_once_the_claim_exists(world) -> None:
    kube, cache, reconciler = world
    _with_checkpoint_claim(cache)
    reconciler.reconcile(KEY)
    kube.objects[CLAIM_PATH] = {"metadata": {"name": "ckpt", "namespace": "ns"}}
    reconciler.reconcile(KEY)
    assert sorted(cache.get(Kind.JOB, KEY)) == ["s-0", "s-1"]
    reconciler.reconcile(KEY)  # the status writes follow the launches (status_hold_seconds)

    status = kube.objects[STUDY_PATH]["status"]
    (running,) = [c for c in status["conditions"] if c["type"] == "Running"]
    assert (status["phase"], running["reason"]) == ("Running", "TrialsRunning")


def test_a_study_without_a_checkpoint_claim_never_reads_claims(world) -> None:
    kube, _, reconciler = world
    reconciler.reconcile(KEY)
    assert not [path for _, path in kube.calls if "persistentvolumeclaims" in path]


def test_a_big_launch_is_made_in_batches_behind_the_other_studies(world) -> None:
    kube, cache, _ = world
    study = {**STUDY, "spec": {**STUDY["spec"], "budget": {"maxTrials": 50, "parallelTrials": 50}}}
    cache.apply(
        Kind.STUDY, None, {**study, "metadata": {**STUDY["metadata"], "resourceVersion": "2"}}
    )
    kube.objects[STUDY_PATH] = {**study, "metadata": dict(STUDY["metadata"])}
    with ThreadPoolExecutor(4) as pool:
        reconciler = Reconciler(
            kube,  # type: ignore[arg-type]
            cache,
            OperatorSettings(launch_batch=20),
            pool,
            EventRecorder(kube, pool),  # type: ignore[arg-type]
            JobEvents(kube, 10.0),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        waits = [reconciler.reconcile(KEY) for _ in range(4)]

    assert len(kube.posted("trials")) == 50
    assert sorted(cache.get(Kind.TRIAL, KEY), key=lambda n: int(n.split("-")[1]))[-1] == "s-49"
    assert waits[0] == waits[1] == observe.MIN_LOOK_SECONDS  # more to launch: soon, not now
    assert waits[2] == observe.MIN_LOOK_SECONDS  # launched the last ten: the writes come next
    assert waits[3] > observe.MIN_LOOK_SECONDS


def _complete(kube: FakeKube, cache: ObjectCache, name: str) -> None:
    """The runner reported and the Job completed (no pod: the GET confirms the report)."""
    trial = kube.objects[f"/apis/kubetune.dev/v1alpha1/namespaces/ns/trials/{name}"]
    trial["status"] = {"values": {"loss": 0.5}, "lastStep": 1}
    trial["metadata"]["resourceVersion"] = "900"
    cache.apply(Kind.TRIAL, None, trial)
    job = kube.objects[f"/apis/batch/v1/namespaces/ns/jobs/{name}"]
    job["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    job["metadata"]["resourceVersion"] = "901"
    cache.apply(Kind.JOB, None, job)


def _status_writes(kube: FakeKube) -> list[str]:
    return [p for method, p in kube.calls if method == "PATCH" and p.endswith("/status")]


def test_a_successor_is_launched_first_and_the_statuses_written_by_the_next_reconcile(
    world,
) -> None:
    kube, cache, reconciler = world
    reconciler.reconcile(KEY)
    _complete(kube, cache, "s-0")
    kube.calls.clear()

    wait = reconciler.reconcile(KEY)
    assert len(kube.posted("trials")) == 1 and len(kube.posted("jobs")) == 1  # s-2
    assert _status_writes(kube) == []
    assert wait == observe.MIN_LOOK_SECONDS  # soon: in the normal lane, behind freed slots

    reconciler.reconcile(KEY)
    trial = kube.objects["/apis/kubetune.dev/v1alpha1/namespaces/ns/trials/s-0"]
    assert trial["status"]["phase"] == "Succeeded"
    assert kube.objects[STUDY_PATH]["status"]["trials"]["succeeded"] == 1
    assert len(kube.posted("trials")) == 1  # nothing launched twice


def test_status_writes_wait_behind_launches_no_longer_than_status_hold_seconds(world) -> None:
    kube, cache, _ = world
    moments = iter([NOW, NOW, NOW + timedelta(seconds=5)])
    with ThreadPoolExecutor(4) as pool:
        reconciler = Reconciler(
            kube,  # type: ignore[arg-type]
            cache,
            OperatorSettings(status_hold_seconds=5),
            pool,
            EventRecorder(kube, pool),  # type: ignore[arg-type]
            JobEvents(kube, 10.0),  # type: ignore[arg-type]
            clock=lambda: next(moments),
        )
        reconciler.reconcile(KEY)  # the first launch writes the study's first status
        _complete(kube, cache, "s-0")
        reconciler.reconcile(KEY)  # launches s-2, holds the writes
        _complete(kube, cache, "s-1")
        kube.calls.clear()
        reconciler.reconcile(KEY)  # launches s-3, but the writes have waited 5 s: now

    assert len(kube.posted("trials")) == 1
    assert len(_status_writes(kube)) == 3  # s-0, s-1 and the study


def test_status_hold_seconds_zero_writes_in_the_launching_reconcile(world) -> None:
    kube, cache, _ = world
    with ThreadPoolExecutor(4) as pool:
        reconciler = Reconciler(
            kube,  # type: ignore[arg-type]
            cache,
            OperatorSettings(status_hold_seconds=0),
            pool,
            EventRecorder(kube, pool),  # type: ignore[arg-type]
            JobEvents(kube, 10.0),  # type: ignore[arg-type]
            clock=lambda: NOW,
        )
        reconciler.reconcile(KEY)
        _complete(kube, cache, "s-0")
        kube.calls.clear()
        reconciler.reconcile(KEY)

    assert len(kube.posted("trials")) == 1
    assert len(_status_writes(kube)) == 2  # s-0 and the study


def test_a_report_confirmed_by_a_get_is_not_read_again_while_its_verdict_waits(world) -> None:
    kube, cache, reconciler = world
    reconciler.reconcile(KEY)
    _complete(kube, cache, "s-0")
    kube.calls.clear()
    reconciler.reconcile(KEY)  # confirms s-0's report, launches s-2, holds the writes
    reconciler.reconcile(KEY)  # writes s-0's verdict
    gets = [p for method, p in kube.calls if method == "GET" and p.endswith("/trials/s-0")]
    assert len(gets) == 1
    assert (
        kube.objects["/apis/kubetune.dev/v1alpha1/namespaces/ns/trials/s-0"]["status"]["phase"]
        == "Succeeded"
    )
