"""The pods of ``benchmarks.scale``'s Jobs, as the Job controller and a kubelet would show them.

The scale benchmark's Jobs set ``spec.managedBy``, so no controller makes pods for them and
the script plays the cluster. Without pods a completion is a path a real cluster never
takes: nothing carries the runner's final report, so the operator has to GET the Trial to
be sure the last report arrived. On a cluster, ``kubetune-runner`` writes that report as its
container's termination message and the kubelet puts it in the pod's status, so the operator
reads it from its pod watch and makes no GET. This module gives every Job that pod:

- created as soon as the Job appears (the Job controller's POST), bound to a Node object that
  no kubelet serves (so the scheduler and the pod garbage collector leave it alone), and
  reported Running (the kubelet's status PATCH);
- at completion, its container terminated with exit code 0 and the runner's final report as
  the termination message (``kubetune_runner._termination.render``), one status PATCH.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from kubetune.kube.client import Kube
from kubetune.kube.objects import TRIAL_LABEL
from kubetune_runner import _termination

NODE = "scale-benchmark-node"
"""The Node the pods are bound to; it has no kubelet, and the pods tolerate its taints."""
STUDY_LABEL = "kubetune.dev/study"
CONTAINER = "train"
IMAGE = "train:1"
START_THREADS = 8
"""Threads creating pods and reporting them Running (the Job controller and kubelets)."""


class Pods:
    """One pod per Job: started when the Job appears, ended by ``finish``."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.pool = ThreadPoolExecutor(START_THREADS, thread_name_prefix="scale-pods")
        self.lock = threading.Lock()
        self.started: dict[str, Future[None]] = {}

    def install(self) -> None:
        self.kube.create(
            "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}
        )

    def job_added(self, job: dict[str, Any]) -> None:
        """A Job appeared on the watch: its pod is created and runs (in the background)."""
        metadata = job["metadata"]
        with self.lock:
            if metadata["name"] in self.started:
                return
            self.started[metadata["name"]] = self.pool.submit(
                self._start, metadata["name"], metadata["uid"], metadata["labels"][STUDY_LABEL]
            )

    def finish(self, name: str, values: dict[str, float], last_step: int) -> None:
        """The container ended well, its termination message the runner's final report."""
        self.started[name].result()
        message = _termination.render(values, {}, last_step, 1, True, sorted(values))
        now = _now()
        terminated = {
            "exitCode": 0,
            "reason": "Completed",
            "message": message,
            "startedAt": now,
            "finishedAt": now,
        }
        self.kube.patch(
            self._path(name) + "/status",
            {"status": {"phase": "Succeeded", "containerStatuses": [_container(terminated)]}},
        )

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _start(self, job: str, uid: str, study: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": _pod_name(job),
                "labels": {STUDY_LABEL: study, TRIAL_LABEL: job, "job-name": job},
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": job,
                        "uid": uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "nodeName": NODE,
                "restartPolicy": "Never",
                "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": CONTAINER, "image": IMAGE}],
            },
        }
        self.kube.create(f"/api/v1/namespaces/{self.namespace}/pods", body)
        now = _now()
        running = {
            "phase": "Running",
            "startTime": now,
            "containerStatuses": [_container(None, started_at=now)],
        }
        self.kube.patch(self._path(job) + "/status", {"status": running})

    def _path(self, job: str) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{_pod_name(job)}"


def _pod_name(job: str) -> str:
    return f"{job}-pod"


def _container(terminated: dict[str, Any] | None, started_at: str | None = None) -> dict[str, Any]:
    state = {"terminated": terminated} if terminated else {"running": {"startedAt": started_at}}
    return {
        "name": CONTAINER,
        "image": IMAGE,
        "imageID": "",
        "ready": terminated is None,
        "started": terminated is None,
        "restartCount": 0,
        "state": state,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
