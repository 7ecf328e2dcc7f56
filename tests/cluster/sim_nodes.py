"""Simulated GPU nodes: real Nodes the real scheduler binds pods to, whose pods run nothing.

The scale benchmark needs thousands of trial pods Running at once on fractional GPUs, which
the process-running node agent cannot give on a 2-core machine (every pod would be a
Python process). What the operator, the Job controller and the scheduler see of a kubelet is
only the API: a Node with capacity and a fresh Lease, and pods whose status says Running.
This daemon writes exactly that, like kwok does, without its Go build:

- it registers ``--nodes`` Nodes (``sim-0`` …) advertising ``--gpus`` units of
  ``--gpu-resource`` (e.g. ``nvidia.com/gpu.shared``: 8 GPUs time-sliced 8 ways = 64), and
  renews their Leases so the node lifecycle controller keeps them Ready;
- it watches every bound pod; a pod on one of its nodes that is not Running yet becomes
  Running (Initialized, ContainersReady, Ready; each container running) in one status
  patch; a pod being deleted is removed with grace 0, as a kubelet does once its
  containers are gone.

Containers never finish: a pod leaves only when it is deleted (the study ends, the Job
goes). It authenticates as the cluster admin, as kwok does (one identity for many nodes),
and keeps its HTTPS connections open so that thousands of patches cost no handshakes.

    python -m tests.cluster.sim_nodes --kubeconfig K --nodes 100 --gpu-resource R --gpus 64
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import logging
import queue
import signal
import ssl
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.kubeconfig import ca_of, server_of
from tests.cluster.versions import KUBERNETES_VERSION

log = logging.getLogger("sim-nodes")

NODE_PREFIX = "sim-"
"""Simulated node names are this prefix and a number."""
LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10
WATCH_TIMEOUT_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 120
"""Long enough for a LIST of thousands of pods from a loaded API server."""
LEASE_THREADS = 4
"""Threads renewing node Leases, each for a share of the nodes."""
STATUS_WRITERS = 8
"""Threads (each with its own keep-alive connection) writing pod statuses and deletions."""
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
"""Pod conditions and container statuses merge by key, as a kubelet's patches do."""
MERGE_PATCH = "application/merge-patch+json"
POD_IP = "127.0.0.1"
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers of a busy or restarting API server: the write is tried again."""


@dataclass(frozen=True)
class SimulatedNodes:
    """What the simulated nodes advertise."""

    count: int = 100
    gpu_resource: str = "nvidia.com/gpu.shared"
    gpus: int = 64
    """Units of ``gpu_resource`` per node (GPUs × time slices, or MIG instances)."""
    pods: int = 110
    cpu: str = "128"
    memory: str = "1Ti"

    def names(self) -> list[str]:
        return [f"{NODE_PREFIX}{i}" for i in range(self.count)]

    def capacity(self) -> dict[str, str]:
        return {
            "cpu": self.cpu,
            "memory": self.memory,
            "pods": str(self.pods),
            self.gpu_resource: str(self.gpus),
        }


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def node_object(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubetune.dev/simulated": "true",
            },
        },
    }


def node_status(nodes: SimulatedNodes, name: str, now: datetime.datetime) -> dict[str, Any]:
    stamp = _timestamp(now)

    def condition(kind: str, status: str, reason: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }

    return {
        "capacity": nodes.capacity(),
        "allocatable": nodes.capacity(),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            condition("Ready", "True", "KubeletReady"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": POD_IP},
            {"type": "Hostname", "address": name},
        ],
        "nodeInfo": {
            "machineID": name,
            "systemUUID": name,
            "bootID": name,
            "kernelVersion": "",
            "osImage": "simulated",
            "containerRuntimeVersion": "simulated://kubetune",
            "kubeletVersion": KUBERNETES_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


def needs_running(pod: Mapping[str, Any]) -> bool:
    """A pod that is bound, not being deleted, and not yet shown Running (or finished)."""
    metadata, status = pod["metadata"], pod.get("status") or {}
    return not metadata.get("deletionTimestamp") and status.get("phase") in (None, "Pending")


def running_status(pod: Mapping[str, Any], now: datetime.datetime) -> dict[str, Any]:
    """The status a kubelet reports once every container of the pod has started."""
    stamp = _timestamp(now)
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": stamp}
        for kind in ("Initialized", "ContainersReady", "Ready")
    ]
    containers = [
        {
            "name": c["name"],
            "image": c.get("image", ""),
            "imageID": "",
            "containerID": f"simulated://{pod['metadata']['uid']}/{c['name']}",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": stamp}},
        }
        for c in pod["spec"]["containers"]
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": POD_IP,
        "hostIPs": [{"ip": POD_IP}],
        "podIP": POD_IP,
        "podIPs": [{"ip": POD_IP}],
        "startTime": stamp,
        "containerStatuses": containers,
    }


class ApiError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class Connection:
    """One keep-alive HTTPS connection to the API server; reopened after any failure."""

    def __init__(self, kubeconfig: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        user = config["users"][0]["user"]
        self.server = urllib.parse.urlsplit(server_of(kubeconfig))
        self.context = ssl.create_default_context(cafile=str(ca_of(kubeconfig)))
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])
        self._connection: http.client.HTTPSConnection | None = None

    def _open(self, timeout: float | None) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.server.hostname or "127.0.0.1",
            self.server.port or 443,
            context=self.context,
            timeout=timeout,
        )

    def request(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        if self._connection is None:
            self._connection = self._open(REQUEST_TIMEOUT_SECONDS)
        headers = {"Accept": "application/json", "Content-Type": content_type}
        data = json.dumps(body).encode() if body is not None else None
        try:
            self._connection.request(method, path, body=data, headers=headers)
            response = self._connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            self._connection.close()
            self._connection = None
            raise
        if not 200 <= response.status < 300:
            raise ApiError(response.status, payload.decode(errors="replace"))
        return json.loads(payload) if payload else {}

    def watch(self, path: str) -> Iterator[dict[str, Any]]:
        """Watch events on a connection of its own, until the server ends the watch."""
        connection = self._open(WATCH_TIMEOUT_SECONDS + 30)
        try:
            connection.request("GET", path, headers={"Accept": "application/json"})
            response = connection.getresponse()
            if response.status != 200:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            for line in response:
                if line.strip():
                    yield json.loads(line)
        finally:
            connection.close()


class Simulator:
    """Registers the nodes, keeps their Leases, and makes their pods Running."""

    def __init__(self, kubeconfig: Path, nodes: SimulatedNodes) -> None:
        self.kubeconfig = kubeconfig
        self.nodes = nodes
        self.names = set(nodes.names())
        self.api = Connection(kubeconfig)
        self.work: queue.Queue[dict[str, Any]] = queue.Queue()
        self.queued: set[tuple[str, bool]] = set()
        """(pod uid, being deleted) already queued: a pod's burst of events is one write."""
        self.stopped = threading.Event()

    def register(self) -> None:
        now = _now()
        for name in self.nodes.names():
            try:
                self.api.request("POST", "/api/v1/nodes", node_object(name))
            except ApiError as error:
                if error.status != 409:
                    raise
            self.api.request(
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                {"status": node_status(self.nodes, name, now)},
                MERGE_PATCH,
            )
        self.renew_leases()
        log.info("registered %d nodes with %s", self.nodes.count, self.nodes.capacity())

    def renew_leases(self, names: list[str] | None = None, api: Connection | None = None) -> None:
        """Renew the Leases of ``names`` (default: every node) on ``api`` (default: ours)."""
        api = api or self.api
        spec_time = _now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        base = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
        for name in names if names is not None else self.nodes.names():
            spec = {
                "holderIdentity": name,
                "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": spec_time,
            }
            try:
                api.request("PATCH", f"{base}/{name}", {"spec": spec}, MERGE_PATCH)
            except ApiError as error:
                if error.status != 404:
                    raise
                lease = {"metadata": {"name": name, "namespace": "kube-node-lease"}, "spec": spec}
                api.request("POST", base, lease)

    def keep_leases(self, names: list[str]) -> None:
        """One lease thread: its share of the nodes, on a connection of its own, so a round
        stays well inside the node grace period however slow the API server answers."""
        api = Connection(self.kubeconfig)
        while not self.stopped.wait(LEASE_RENEW_SECONDS):
            try:
                self.renew_leases(names, api)
            except Exception:
                log.exception("could not renew the node leases")

    def watch_pods(self) -> None:
        """List, then watch every bound pod, resuming each watch from the last version seen;
        list again only when that version expired or the watch failed (a LIST of thousands
        of pods on a busy API server takes long enough to stall every new pod meanwhile)."""
        selector = urllib.parse.quote("spec.nodeName!=")
        api = Connection(self.kubeconfig)  # the lease thread has self.api: one request each
        version: str | None = None
        while not self.stopped.is_set():
            try:
                if version is None:
                    listing = api.request("GET", f"/api/v1/pods?fieldSelector={selector}")
                    for pod in listing["items"]:
                        self._on_pod(pod)
                    version = str(listing["metadata"]["resourceVersion"])
                path = (
                    f"/api/v1/pods?watch=1&fieldSelector={selector}&resourceVersion={version}"
                    f"&timeoutSeconds={WATCH_TIMEOUT_SECONDS}&allowWatchBookmarks=true"
                )
                for event in Connection(self.kubeconfig).watch(path):
                    if self.stopped.is_set():
                        return
                    if event["type"] == "ERROR":
                        version = None  # 410 Gone and friends: list again
                        break
                    version = event["object"]["metadata"].get("resourceVersion") or version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._on_pod(event["object"])
            except Exception:
                log.exception("pod watch failed; listing again")
                version = None
                self.stopped.wait(1)

    def _on_pod(self, pod: dict[str, Any]) -> None:
        if pod["spec"].get("nodeName") not in self.names:
            return
        deleting = bool(pod["metadata"].get("deletionTimestamp"))
        mark = (pod["metadata"]["uid"], deleting)
        if (deleting or needs_running(pod)) and mark not in self.queued:
            self.queued.add(mark)
            self.work.put(pod)

    def write_statuses(self) -> None:
        """One writer thread: make queued pods Running, or remove those being deleted."""
        api = Connection(self.kubeconfig)
        while not self.stopped.is_set():
            pod = self.work.get()
            metadata = pod["metadata"]
            path = f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}"
            try:
                if metadata.get("deletionTimestamp"):
                    options = {"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}}
                    api.request("DELETE", path, options)
                else:
                    status = {"status": running_status(pod, _now())}
                    api.request("PATCH", path + "/status", status, STRATEGIC_MERGE_PATCH)
            except ApiError as error:
                if error.status not in RETRIED_STATUSES:
                    if error.status not in (404, 409):  # gone, or another uid by that name
                        log.warning("pod %s: %s", metadata["name"], error)
                    continue
                log.warning("pod %s: %s; retrying", metadata["name"], error)
                self.stopped.wait(0.5)
                self.work.put(pod)
                continue
            except (OSError, http.client.HTTPException) as error:
                log.warning("pod %s: %s; retrying", metadata["name"], error)
                self.stopped.wait(0.5)
                self.work.put(pod)
                continue
            if metadata.get("deletionTimestamp"):
                self.queued.discard((metadata["uid"], False))
                self.queued.discard((metadata["uid"], True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="admin kubeconfig")
    parser.add_argument("--nodes", type=int, default=SimulatedNodes.count)
    parser.add_argument("--gpu-resource", default=SimulatedNodes.gpu_resource)
    parser.add_argument("--gpus", type=int, default=SimulatedNodes.gpus)
    parser.add_argument("--pods", type=int, default=SimulatedNodes.pods)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
    nodes = SimulatedNodes(args.nodes, args.gpu_resource, args.gpus, args.pods)
    simulator = Simulator(args.kubeconfig, nodes)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set():
        try:
            simulator.register()
            break
        except (ApiError, OSError) as error:  # kube-node-lease may not exist yet
            log.warning("nodes not registered yet (%s); retrying", error)
            stop.wait(0.5)
    names = nodes.names()
    for i in range(LEASE_THREADS):
        share = names[i::LEASE_THREADS]
        threading.Thread(
            target=simulator.keep_leases, args=(share,), name=f"leases-{i}", daemon=True
        ).start()
    targets = [simulator.watch_pods] + [simulator.write_statuses] * STATUS_WRITERS
    for i, target in enumerate(targets):
        threading.Thread(target=target, name=f"{target.__name__}-{i}", daemon=True).start()
    stop.wait()
    simulator.stopped.set()


if __name__ == "__main__":
    main()
