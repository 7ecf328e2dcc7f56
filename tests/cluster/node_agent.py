"""A kubelet stand-in that runs pods as local processes, for clusters without containers.

There is no container runtime on CI machines, yet the operator's Jobs, the scheduler's
GPU accounting and bound service-account tokens must be exercised for real. This agent
registers one or more Nodes (cpu, memory, pods and an extended GPU resource), keeps their
Leases fresh, watches the pods bound to them and hands each one to a `pods.PodWorker`.

It authenticates as `system:node:<name>` (group `system:nodes`), so the Node authorizer
and NodeRestriction admission apply to it as they would to a kubelet.

    python -m tests.cluster.node_agent --state-dir .cluster --node node-0 [--node node-1]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import signal
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.pods import NodeContext, PodWorker
from tests.cluster.rest import MERGE_PATCH, ApiError, RestClient
from tests.cluster.versions import KUBERNETES_VERSION

log = logging.getLogger("node-agent")

LEASE_DURATION_SECONDS = 40
LEASE_RENEW_SECONDS = 10
WATCH_TIMEOUT_SECONDS = 300
SHUTDOWN_GRACE_SECONDS = 5
AGENT_VERSION = "kubetune-node-agent"


@dataclass(frozen=True)
class NodeResources:
    """What every registered node advertises."""

    cpu: str = "16"
    memory: str = "64Gi"
    pods: str = "110"
    gpu_resource: str = "nvidia.com/gpu"
    gpus: int = 4

    def as_quantities(self) -> dict[str, str]:
        quantities = {"cpu": self.cpu, "memory": self.memory, "pods": self.pods}
        if self.gpus:
            quantities[self.gpu_resource] = str(self.gpus)
        return quantities


def _micro_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class NodeAgent:
    """Everything one node does: registration, lease, pod watch, pod workers."""

    def __init__(self, name: str, node_dir: Path, resources: NodeResources) -> None:
        self.name = name
        self.api = RestClient.from_kubeconfig(node_dir / "kubeconfig")
        server = urllib.parse.urlsplit(self.api.server)
        self.context = NodeContext(
            node=name,
            api=self.api,
            pods_dir=node_dir / "pods",
            ca_cert=self.api.ca_cert,
            api_host=server.hostname or "127.0.0.1",
            api_port=server.port or 443,
        )
        self.resources = resources
        self.workers: dict[str, PodWorker] = {}
        self.stopped = threading.Event()

    # ------------------------------------------------------------ registration
    def register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        try:
            self.api.request("POST", "/api/v1/nodes", node)
        except ApiError as error:
            if error.status != 409:
                raise
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            {"status": self._node_status()},
            content_type=MERGE_PATCH,
        )
        self._renew_lease()
        log.info("registered node %s with %s", self.name, self.resources.as_quantities())

    def _node_status(self) -> dict[str, Any]:
        now = _now().strftime("%Y-%m-%dT%H:%M:%SZ")
        quantities = self.resources.as_quantities()

        def condition(kind: str, status: str, reason: str) -> dict[str, str]:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        return {
            "capacity": quantities,
            "allocatable": quantities,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
                condition("Ready", "True", "KubeletReady"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": self.name,
                "systemUUID": self.name,
                "bootID": self.name,
                "kernelVersion": "",
                "osImage": "processes",
                "containerRuntimeVersion": f"process://{AGENT_VERSION}",
                "kubeletVersion": KUBERNETES_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }

    def _renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": _micro_time(_now()),
        }
        try:
            self.api.request("PATCH", path, {"spec": spec}, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.status != 404:
                raise
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            self.api.request("POST", path.rsplit("/", 1)[0], lease)

    def keep_lease(self) -> None:
        while not self.stopped.wait(LEASE_RENEW_SECONDS):
            try:
                self._renew_lease()
            except Exception:
                log.exception("could not renew the lease of node %s", self.name)

    # ------------------------------------------------------------------- pods
    def watch_pods(self) -> None:
        """List then watch this node's pods forever, relisting whenever a watch ends."""
        query = {"fieldSelector": f"spec.nodeName={self.name}"}
        while not self.stopped.is_set():
            try:
                listing = self.api.request("GET", "/api/v1/pods", query=query)
                self._sync(listing["items"])
                watch_query = {
                    **query,
                    "resourceVersion": listing["metadata"]["resourceVersion"],
                    "allowWatchBookmarks": "true",
                }
                for event in self.api.watch("/api/v1/pods", watch_query, WATCH_TIMEOUT_SECONDS):
                    if self.stopped.is_set() or event["type"] == "ERROR":
                        break  # 410 Gone and friends: relist
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._on_pod(event["object"])
                    elif event["type"] == "DELETED":
                        self._on_pod_deleted(event["object"]["metadata"]["uid"])
            except Exception:
                log.exception("pod watch of node %s failed; relisting", self.name)
                self.stopped.wait(1)

    def _sync(self, pods: list[dict[str, Any]]) -> None:
        present = {pod["metadata"]["uid"] for pod in pods}
        for uid in list(self.workers):
            if uid not in present:
                self._on_pod_deleted(uid)
        for pod in pods:
            self._on_pod(pod)

    def _on_pod(self, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = PodWorker(self.context, pod)
        self.workers[uid] = worker
        worker.start()

    def _on_pod_deleted(self, uid: str) -> None:
        worker = self.workers.pop(uid, None)
        if worker is not None:
            worker.pod_gone()

    # --------------------------------------------------------------- shutdown
    def shutdown(self) -> None:
        self.stopped.set()
        for worker in list(self.workers.values()):
            worker.shutdown(SHUTDOWN_GRACE_SECONDS)


def _register_until_done(agent: NodeAgent, stop: threading.Event) -> None:
    # Right after the API server turns ready, kube-node-lease may not exist yet.
    while not stop.is_set():
        try:
            agent.register()
            return
        except (ApiError, OSError) as error:
            log.warning("node %s not registered yet (%s); retrying", agent.name, error)
            stop.wait(0.5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--node", action="append", required=True, help="repeat for more nodes")
    parser.add_argument("--gpu-resource", default=NodeResources.gpu_resource)
    parser.add_argument("--gpus", type=int, default=NodeResources.gpus)
    parser.add_argument("--cpu", default=NodeResources.cpu)
    parser.add_argument("--memory", default=NodeResources.memory)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")

    resources = NodeResources(
        cpu=args.cpu, memory=args.memory, gpu_resource=args.gpu_resource, gpus=args.gpus
    )
    agents = [NodeAgent(n, args.state_dir / "nodes" / n, resources) for n in args.node]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for agent in agents:
        _register_until_done(agent, stop)
        for target in (agent.keep_lease, agent.watch_pods):
            threading.Thread(
                target=target, name=f"{target.__name__}-{agent.name}", daemon=True
            ).start()
    stop.wait()
    log.info("stopping: terminating every pod process")
    for agent in agents:
        agent.shutdown()


if __name__ == "__main__":
    main()
