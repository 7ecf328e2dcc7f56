"""A real Kubernetes control plane on loopback: etcd, API server, controllers, scheduler.

The integration and e2e suites run against this instead of mocks: real admission (CRD
schemas, CEL, ValidatingAdmissionPolicy), the real Job and garbage collectors, the real
scheduler, bound service-account tokens. Pods run through `node_agent`, which executes
each container's command as a local process.

Everything lives in one state directory (default `.cluster/` in the repo root):

    kubeconfig            admin credentials (system:masters)
    state.json            ports and pids, so `stop` works from another shell
    pki/                  CA, component certificates, service-account signing key
    etcd/                 etcd data (survives stop/start)
    logs/<component>.log  daemon output
    nodes/<node>/         node kubeconfig and pods (see node_agent)

Ports are chosen free at first start and reused afterwards when still free, so two
clusters never collide and a restarted cluster keeps its address.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster import build, certs
from tests.cluster.kubeconfig import write_kubeconfig
from tests.cluster.pods import stop_orphaned_containers
from tests.cluster.processes import (
    command_line_of,
    free_port,
    is_alive,
    port_is_free,
    start_daemon,
    stop_process_groups,
)
from tests.cluster.rest import ApiError, RestClient
from tests.cluster.sim_nodes import SimulatedNodes

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".cluster"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"

RESTARTABLE = ("etcd", "kube-apiserver", "node-agent")
"""Components `ControlPlane.restart` can stop and start again on their own."""

STOP_ORDER = (
    ("node-agent", "sim-nodes", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)


@dataclass(frozen=True)
class ClusterSettings:
    """What kind of cluster to start."""

    state_dir: Path = DEFAULT_STATE_DIR
    """Directory holding kubeconfig, PKI, etcd data, logs and pod directories."""
    nodes: tuple[str, ...] = ("node-0",)
    """Node names the node agent registers; empty for a control plane without nodes."""
    gpu_resource: str = "nvidia.com/gpu"
    """Extended resource name each node advertises (MIG or time-sliced names work too)."""
    gpus_per_node: int = 4
    """Capacity of `gpu_resource` on every node."""
    service_cidr: str = "10.0.0.0/24"
    """Service IP range; its first address is in the API server certificate."""
    simulated: SimulatedNodes | None = None
    """Nodes whose pods run nothing and are reported Running (``sim_nodes``), for scale runs."""
    client_qps: int | None = None
    """Requests per second the controller manager and the scheduler may send (burst: twice
    that); None keeps their defaults (20 and 50), far below what thousands of pods need."""
    concurrent_job_syncs: int | None = None
    """Jobs the Job controller works on at once (its default, 5, creates a few pods a second:
    enough for tests, not for thousands of trials starting together)."""
    start_timeout_seconds: float = 120.0
    """How long `start` waits for every component to be ready."""
    stop_grace_seconds: float = 10.0
    """How long each daemon gets between SIGTERM and SIGKILL."""


@dataclass
class ClusterState:
    """What `state.json` records about a started cluster."""

    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


class StartError(RuntimeError):
    """A component died or did not become ready in time."""


class ControlPlane:
    """Start and stop one cluster living in `settings.state_dir`."""

    def __init__(self, settings: ClusterSettings | None = None) -> None:
        self.settings = settings or ClusterSettings()
        self.state_dir = self.settings.state_dir.resolve()
        self.pki_dir = self.state_dir / "pki"
        self.logs_dir = self.state_dir / "logs"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self._state_file = self.state_dir / "state.json"

    # ----------------------------------------------------------------- state file
    def read_state(self) -> ClusterState:
        if not self._state_file.exists():
            return ClusterState()
        raw = json.loads(self._state_file.read_text())
        return ClusterState(ports=raw.get("ports", {}), pids=raw.get("pids", {}))

    def _write_state(self, state: ClusterState) -> None:
        payload = {"ports": state.ports, "pids": state.pids}
        self._state_file.write_text(json.dumps(payload, indent=2) + "\n")

    def is_running(self) -> bool:
        pid = self.read_state().pids.get("kube-apiserver")
        return pid is not None and self._owns(pid)

    def _owns(self, pid: int) -> bool:
        # After a reboot a recorded pid may belong to someone else: ours name our dir.
        return is_alive(pid) and str(self.state_dir) in command_line_of(pid)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.read_state().ports['apiserver']}"

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> float:
        """Start every component and wait until the cluster can run pods.

        Returns the seconds it took. Starting a running cluster is an error.
        """
        if self.is_running():
            raise StartError(f"a cluster is already running in {self.state_dir}")
        self.stop()  # whatever survived a crashed start or a dead API server
        started = time.monotonic()
        build.build()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        state = ClusterState(ports=self._choose_ports())
        self._write_state(state)
        try:
            self._start_components(state)
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - started

    def stop(self) -> None:
        """Stop every component this state directory knows about; safe to repeat."""
        state = self.read_state()
        # Clients of the API go together, then the API server, then etcd, so none of them
        # outlives what it depends on.
        for tier in STOP_ORDER:
            pids = [state.pids.pop(component) for component in tier if component in state.pids]
            ours = [pid for pid in pids if self._owns(pid)]
            stop_process_groups(ours, self.settings.stop_grace_seconds)
        if self._state_file.exists():
            self._write_state(state)
        # A node agent that was SIGKILLed cannot stop its pods; their pid files remain.
        stop_orphaned_containers(self.state_dir / "nodes")

    def restart(self, component: str, *, crash: bool = False) -> float:
        """Stop one component and start it again with the same data directory, certificates
        and ports, as a chaos test's fault; returns once it is ready again (seconds taken).

        ``crash``: SIGKILL its process group (a crash or OOM kill) instead of SIGTERM with a
        grace period. A crashed node agent leaves its containers running; the agent that
        starts next finds them (see ``pods.PodWorker``). The rest of the cluster keeps running
        meanwhile, and its clients retry as they would against a real restart.
        """
        if component not in RESTARTABLE:
            raise ValueError(f"{component!r} cannot be restarted; choose one of {RESTARTABLE}")
        state = self.read_state()
        pid = state.pids.get(component)
        if pid is not None and self._owns(pid):
            if crash:
                stop_process_groups([pid], 0.0, first_signal=signal.SIGKILL)
            else:
                stop_process_groups([pid], self.settings.stop_grace_seconds)
        started = time.monotonic()
        started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        deadline = started + self.settings.start_timeout_seconds
        argv, env, ready = self._restart_plan(component, state.ports, started_at)
        self._launch(state, component, argv, env)
        self._wait(state, component, deadline, ready)
        return time.monotonic() - started

    def _restart_plan(
        self, component: str, ports: dict[str, int], started_at: datetime.datetime
    ) -> tuple[list[str], dict[str, str] | None, Callable[[], bool]]:
        """What to launch for `component` and how to tell it is ready again."""
        if component == "etcd":
            health = f"http://127.0.0.1:{ports['etcd-client']}/health"
            return self._etcd_argv(ports), None, lambda: _http_ok(health)
        api = RestClient.from_kubeconfig(self.kubeconfig)
        if component == "kube-apiserver":
            return self._apiserver_argv(ports), None, lambda: api.ok("/readyz")
        leases = [
            f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
            for node in self.settings.nodes
        ]

        def renewed() -> bool:
            return all(_renewed_since(api, lease, started_at) for lease in leases)

        return self._node_agent_argv(), self._node_agent_env(), renewed

    def _choose_ports(self) -> dict[str, int]:
        previous = self.read_state().ports
        ports = {}
        for name in ("etcd-client", "etcd-peer", "apiserver"):
            port = previous.get(name)
            ports[name] = port if port is not None and port_is_free(port) else free_port()
        return ports

    def _start_components(self, state: ClusterState) -> None:
        deadline = time.monotonic() + self.settings.start_timeout_seconds
        started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        self._write_credentials(state.ports["apiserver"])

        self._launch(state, "etcd", self._etcd_argv(state.ports))
        etcd_health = f"http://127.0.0.1:{state.ports['etcd-client']}/health"
        self._wait(state, "etcd", deadline, lambda: _http_ok(etcd_health))

        # The API's clients retry until it serves, so they start alongside it.
        self._launch(state, "kube-apiserver", self._apiserver_argv(state.ports))
        self._launch(state, "kube-controller-manager", self._controller_manager_argv())
        self._launch(state, "kube-scheduler", self._scheduler_argv())
        if self.settings.nodes:
            self._launch(state, "node-agent", self._node_agent_argv(), self._node_agent_env())
        if self.settings.simulated is not None:
            self._launch(state, "sim-nodes", self._sim_nodes_argv(self.settings.simulated))
        api = RestClient.from_kubeconfig(self.kubeconfig)
        self._wait(state, "kube-apiserver", deadline, lambda: api.ok("/readyz"))
        for node in self.settings.nodes:
            lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}"
            renewed = functools.partial(_renewed_since, api, lease, started_at)
            self._wait(state, f"node {node}", deadline, renewed)
        if self.settings.simulated is not None:
            last = self.settings.simulated.names()[-1]
            lease = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{last}"
            renewed = functools.partial(_renewed_since, api, lease, started_at)
            self._wait(state, "simulated nodes", deadline, renewed)
        default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
        self._wait(state, "default ServiceAccount", deadline, lambda: api.ok(default_sa))

    def _launch(
        self,
        state: ClusterState,
        component: str,
        argv: list[str],
        env: dict[str, str] | None = None,
    ) -> None:
        # The repo root as working directory lets `python -m tests.cluster.node_agent` import.
        process = start_daemon(argv, self.logs_dir / f"{component}.log", env, cwd=REPO_ROOT)
        state.pids[component] = process.pid
        self._write_state(state)

    def _wait(
        self, state: ClusterState, what: str, deadline: float, ready: Callable[[], bool]
    ) -> None:
        while not ready():
            for component, pid in state.pids.items():
                if not is_alive(pid):
                    raise StartError(
                        f"{component} exited while waiting for {what}:\n"
                        + self._log_tail(component)
                    )
            if time.monotonic() > deadline:
                raise StartError(f"timed out waiting for {what}; logs in {self.logs_dir}")
            time.sleep(0.1)

    def _log_tail(self, component: str, lines: int = 30) -> str:
        log = self.logs_dir / f"{component}.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    # ------------------------------------------------------------- credentials
    def _write_credentials(self, apiserver_port: int) -> None:
        ca = certs.load_or_create_ca(self.pki_dir)
        server = f"https://127.0.0.1:{apiserver_port}"
        first_service_ip = _first_host(self.settings.service_cidr)
        certs.issue(
            ca,
            self.pki_dir,
            "apiserver",
            "kube-apiserver",
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ip_addresses=("127.0.0.1", first_service_ip),
        )
        certs.load_or_create_service_account_keys(self.pki_dir)
        users = {
            "admin": ("kubernetes-admin", ("system:masters",), self.kubeconfig),
            "controller-manager": (
                "system:kube-controller-manager",
                (),
                self.state_dir / "kube-controller-manager.kubeconfig",
            ),
            "scheduler": (
                "system:kube-scheduler",
                (),
                self.state_dir / "kube-scheduler.kubeconfig",
            ),
        }
        for node in self.settings.nodes:
            users[f"node-{node}"] = (
                f"system:node:{node}",
                ("system:nodes",),
                self.state_dir / "nodes" / node / "kubeconfig",
            )
        for stem, (user, groups, path) in users.items():
            client = certs.issue(ca, self.pki_dir, stem, user, groups)
            write_kubeconfig(path, server, ca.paths.cert, client, user)

    # ------------------------------------------------------------ command lines
    def _etcd_argv(self, ports: dict[str, int]) -> list[str]:
        client = f"http://127.0.0.1:{ports['etcd-client']}"
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        return [
            str(build.binary("etcd")),
            "--name=kubetune",
            f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=kubetune={peer}",
            # A clean stop still persists everything; a power cut is not a test concern.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_argv(self, ports: dict[str, int]) -> list[str]:
        pki = self.pki_dir
        return [
            str(build.binary("kube-apiserver")),
            f"--etcd-servers=http://127.0.0.1:{ports['etcd-client']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports['apiserver']}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-cluster-ip-range={self.settings.service_cidr}",
            "--authorization-mode=Node,RBAC",
            # Added to the default plugins (ValidatingAdmissionPolicy is one of them).
            "--enable-admission-plugins=NodeRestriction,ValidatingAdmissionPolicy",
            # The `kubernetes` Service cannot have a loopback endpoint; nothing needs it.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def _controller_manager_argv(self) -> list[str]:
        pki = self.pki_dir
        kubeconfig = self.state_dir / "kube-controller-manager.kubeconfig"
        return [
            str(build.binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={self.settings.service_cidr}",
            "--controllers=*",
            *self._qps_flags(),
            *(
                []
                if self.settings.concurrent_job_syncs is None
                else [f"--concurrent-job-syncs={self.settings.concurrent_job_syncs}"]
            ),
        ]

    def _scheduler_argv(self) -> list[str]:
        kubeconfig = self.state_dir / "kube-scheduler.kubeconfig"
        return [
            str(build.binary("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            *self._qps_flags(),
        ]

    def _qps_flags(self) -> list[str]:
        qps = self.settings.client_qps
        return [] if qps is None else [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}"]

    def _sim_nodes_argv(self, simulated: SimulatedNodes) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.cluster.sim_nodes",
            f"--kubeconfig={self.kubeconfig}",
            f"--nodes={simulated.count}",
            f"--gpu-resource={simulated.gpu_resource}",
            f"--gpus={simulated.gpus}",
            f"--pods={simulated.pods}",
        ]

    def _node_agent_argv(self) -> list[str]:
        argv = [
            sys.executable,
            "-m",
            "tests.cluster.node_agent",
            f"--state-dir={self.state_dir}",
            f"--gpu-resource={self.settings.gpu_resource}",
            f"--gpus={self.settings.gpus_per_node}",
        ]
        return argv + [f"--node={node}" for node in self.settings.nodes]

    def _node_agent_env(self) -> dict[str, str]:
        # The admin credentials of whoever starts the cluster must not reach the pods.
        return {key: value for key, value in os.environ.items() if key != "KUBECONFIG"}


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _renewed_since(api: RestClient, lease_path: str, moment: datetime.datetime) -> bool:
    """Whether the node Lease was renewed after `moment`: its agent of this start is up."""
    try:
        renewed = api.request("GET", lease_path)["spec"]["renewTime"]
    except (ApiError, OSError, KeyError):
        return False
    return datetime.datetime.fromisoformat(renewed) >= moment


def _first_host(cidr: str) -> str:
    return str(next(ipaddress.ip_network(cidr).hosts()))
