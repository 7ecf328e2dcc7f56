"""Run one pod's containers as local processes and report them like a kubelet would.

A `PodWorker` owns one pod bound to this node: it prepares the pod directory and token,
starts every container's command in its own process group, restarts containers as the
restart policy says (with backoff), writes the pod's status through `pods/status`, and on
deletion sends SIGTERM, SIGKILL after the grace period, then deletes the pod for good.

Like a kubelet it is level-triggered and outlives API outages: an API call that fails for
a passing reason (connection refused, a timeout, a 5xx while the API server restarts) is
retried on the next pass, and the status is re-sent until the API shows what the processes
are doing (`report_due`). A pod is never left `Running` without a process because one
PATCH was lost.

Per pod, under `<state>/nodes/<node>/pods/<namespace>_<name>_<uid>/`:

    work/                      the containers' working directory
    volumes/<name>/            an emptyDir volume (`volumes.py`: how mounts are made)
    serviceaccount/            token (bound to the pod), ca.crt, namespace
    logs/<container>.log       stdout+stderr of every run of the container, appended
    pids/<container>.pid       pid of the running process group (for crash cleanup)
    termination/<container>    the container's termination message file

The termination message works as a kubelet's: the file stands in for the container's
`terminationMessagePath` (programs find it through `KUBETUNE_TERMINATION_MESSAGE_PATH`), is
emptied before each run, and when the container ends its first 4096 bytes become
`state.terminated.message`; with `FallbackToLogsOnError`, an empty file and a non-zero exit,
the end of the log is used instead (its last 80 lines, at most 2048 bytes).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import logging
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.cluster import pod_env, volumes
from tests.cluster.processes import stop_child, stop_process_groups
from tests.cluster.rest import MERGE_PATCH, ApiError, RestClient

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""How often a pod with running processes is looked at (exits, restarts, status)."""
DEFAULT_GRACE_SECONDS = 30
"""Termination grace of a pod that sets none (the kubelet's default)."""
RESYNC_SECONDS = 2.0
"""A status the API still does not show this long after it was sent is sent again (the
watch may lag behind a PATCH that landed, so not at once)."""
TERMINATION_MESSAGE_BYTES = 4096
"""The most of a termination message file a kubelet keeps."""
FALLBACK_LOG_BYTES = 2048
FALLBACK_LOG_LINES = 80
"""How much of the log `FallbackToLogsOnError` keeps (the kubelet's limits)."""
TERMINATION_MESSAGE_PATH_ENV = "KUBETUNE_TERMINATION_MESSAGE_PATH"
TRANSIENT_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})
"""HTTP statuses of an API server that is restarting, overloaded or briefly unreachable."""


TOKEN_NOT_YET_STATUSES = frozenset({403, 404})
"""Answers to a pod's TokenRequest that mean "not yet": the API server checks the bound pod
against its own view of pods (404 "pod not found") and the Node authorizer against its graph
(403 "no relationship found"), both fed by watches that lag behind the binding this agent
saw — under load, and for seconds after the API server resumes from a pause or restart."""


class TokenNotGranted(RuntimeError):
    """The API did not grant the pod's service-account token yet (`TOKEN_NOT_YET_STATUSES`).
    A kubelet's token manager keeps asking, and so does the agent: the container starts once
    the token is granted, never without it, and the pod is not failed for it. (A pod that
    is really gone ends through its deletion, as any other.)"""


def is_transient(error: Exception) -> bool:
    """Whether an API call failed for a passing reason, so that trying again is right."""
    if isinstance(error, TokenNotGranted):
        return True
    if isinstance(error, ApiError):
        return error.status in TRANSIENT_STATUSES
    return isinstance(error, OSError)  # refused, reset, timed out (urllib's URLError too)


def status_summary(status: dict[str, Any]) -> tuple[Any, ...]:
    """What a pod status says about its processes: phase and each container's state."""
    containers = tuple(
        (
            c.get("name"),
            tuple(sorted((c.get("state") or {}).keys())),
            c.get("restartCount", 0),
            ((c.get("state") or {}).get("terminated") or {}).get("exitCode"),
        )
        for c in status.get("containerStatuses") or []
    )
    return status.get("phase"), containers


def report_due(
    desired: dict[str, Any],
    shown: dict[str, Any],
    sent: dict[str, Any] | None,
    seconds_since_sent: float,
) -> bool:
    """Whether to PATCH `desired`: it changed since the last send that landed, or the API
    (`shown`, from the watch) still disagrees about the processes a while after it."""
    if desired != sent:
        return True
    return status_summary(desired) != status_summary(shown) and (
        seconds_since_sent >= RESYNC_SECONDS
    )


@dataclass(frozen=True)
class NodeContext:
    """What every pod worker of one node shares."""

    node: str
    api: RestClient
    pods_dir: Path
    ca_cert: Path
    api_host: str
    api_port: int
    restart_backoff_seconds: float = 1.0
    """First delay before restarting a failed container; doubles per restart."""
    restart_backoff_max_seconds: float = 30.0
    """Upper bound of the restart delay (the kubelet uses 10 s and 300 s)."""


def pod_dir(pods_dir: Path, pod: dict[str, Any]) -> Path:
    metadata = pod["metadata"]
    return pods_dir / f"{metadata['namespace']}_{metadata['name']}_{metadata['uid']}"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _timestamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerRun:
    """The state of one container across its restarts."""

    name: str
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    started_at: datetime.datetime | None = None
    restart_count: int = 0
    next_start: float = 0.0
    terminated: dict[str, Any] | None = None
    last_terminated: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None

    def state(self) -> dict[str, Any]:
        if self.process is not None and self.started_at is not None:
            return {"running": {"startedAt": _timestamp(self.started_at)}}
        if self.terminated is not None:
            return {"terminated": self.terminated}
        reason = "CrashLoopBackOff" if self.restart_count else "ContainerCreating"
        return {"waiting": {"reason": reason}}

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "ready": self.running,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": self.state(),
        }
        if self.process is not None:
            status["containerID"] = f"process://{self.process.pid}"
        if self.last_terminated is not None:
            status["lastState"] = {"terminated": self.last_terminated}
        return status


@dataclass
class PodWorker:
    """Drives one pod from bound to deleted; `update` feeds it the latest object."""

    context: NodeContext
    pod: dict[str, Any]
    containers: list[ContainerRun] = field(default_factory=list)
    _wake: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _gone: bool = False
    _stopping: bool = False
    _token_issued_at: datetime.datetime | None = None
    _conditions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _reported: dict[str, Any] | None = None
    """The last status a PATCH delivered."""
    _reported_at: float = 0.0
    """When it was delivered (monotonic)."""
    _failure: tuple[str, str] | None = None
    """(reason, message) once the pod cannot run here: it is reported Failed until deleted."""
    _mounted: bool = False
    """The pod's volume mounts are in place (`volumes.MOUNTS`)."""
    _volumes_waiting: str = ""
    """Why the volumes are not ready yet (logged when it changes)."""
    _api_down: bool = False
    """The last API call failed for a passing reason (logged once per outage)."""
    _start_time: str = field(default_factory=lambda: _timestamp(_now()))
    _thread: threading.Thread | None = None

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    @property
    def directory(self) -> Path:
        return pod_dir(self.context.pods_dir, self.pod)

    # --------------------------------------------------------- thread interface
    def start(self) -> None:
        name = f"pod-{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def update(self, pod: dict[str, Any]) -> None:
        with self._lock:
            self.pod = pod
        self._wake.set()

    def pod_gone(self) -> None:
        """The pod no longer exists in the API: kill its processes and finish."""
        self._gone = True
        self._wake.set()

    def shutdown(self, grace_seconds: float) -> None:
        """The agent is stopping: stop the processes without touching the API."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._kill_all(grace_seconds)

    # ------------------------------------------------------------------ the loop
    def _run(self) -> None:
        try:
            self._prepare()
            self._drive()
        except pod_env.UnsupportedPod as error:
            log.warning("pod %s cannot run here: %s", self.pod["metadata"]["name"], error)
            self._give_up("UnsupportedPod", str(error))
        except Exception as error:  # an odd pod must never take the agent down
            log.exception("pod %s failed in the node agent", self.pod["metadata"]["name"])
            self._give_up(type(error).__name__, str(error))
        finally:
            volumes.MOUNTS.release(self.uid)

    def _give_up(self, reason: str, message: str) -> None:
        """Report the pod Failed until the API shows it, then finish its deletion."""
        self._kill_all(0)
        self._failure = (reason, message)
        self._conditions.clear()
        while True:
            try:
                self._drive()
                return
            except Exception:
                log.exception("pod %s: failed in the node agent", self.pod["metadata"]["name"])
                self._wake.wait(1.0)

    def _drive(self) -> None:
        """Pass after pass until the pod is deleted; a passing API failure only delays."""
        while not self._stopping and not self._gone:
            self._wake.clear()
            with self._lock:
                pod = self.pod
            try:
                if pod["metadata"].get("deletionTimestamp"):
                    self._terminate(pod)
                    return
                idle = self._pass(pod)
                self._api_back()
            except Exception as error:
                if not is_transient(error):
                    raise
                self._api_failed(error)
                idle = False
            # A finished pod only waits for its deletion, which `update` wakes us for.
            self._wake.wait(None if idle else POLL_SECONDS)
        if self._gone:
            self._kill_all(0)

    def _pass(self, pod: dict[str, Any]) -> bool:
        """Processes reaped and restarted, status sent; True once only deletion is left."""
        finished = self._is_terminal(pod)
        if not finished and self._failure is None:
            self._refresh_token(pod)
            if self._mount_volumes(pod):
                self._reap_and_restart(pod)
        self._report(pod)
        idle = finished and not any(run.running for run in self.containers)
        if idle:
            volumes.MOUNTS.release(self.uid)  # another pod may mount its paths now
        return idle

    def _mount_volumes(self, pod: dict[str, Any]) -> bool:
        """Whether the pod's volumes are in place; False while one is not ready yet (the
        containers wait in ContainerCreating, as a kubelet's wait for a claim)."""
        if self._mounted:
            return True
        try:
            directories = volumes.host_directories(pod, self.directory, self._read)
        except volumes.VolumesNotReady as error:
            if str(error) != self._volumes_waiting:
                log.info("pod %s waits for its volumes: %s", pod["metadata"]["name"], error)
            self._volumes_waiting = str(error)
            return False
        volumes.MOUNTS.acquire(self.uid, volumes.mounts(pod, directories))
        self._mounted = True
        return True

    def _read(self, path: str) -> dict[str, Any] | None:
        """GET an object a volume needs; None when it does not exist."""
        try:
            return self.context.api.request("GET", path)
        except ApiError as error:
            if error.status == 404:
                return None
            if error.status == 403:  # the Node authorizer learns of a new binding late
                raise volumes.VolumesNotReady(f"GET {path}: forbidden to the node") from error
            raise

    def _api_failed(self, error: Exception) -> None:
        if not self._api_down:
            log.warning(
                "pod %s: API call failed, retrying: %s", self.pod["metadata"]["name"], error
            )
        self._api_down = True

    def _api_back(self) -> None:
        if self._api_down:
            log.info("pod %s: the API answers again", self.pod["metadata"]["name"])
        self._api_down = False

    def _prepare(self) -> None:
        pod = self.pod
        spec = pod["spec"]
        self.containers = [ContainerRun(c["name"], c) for c in spec["containers"]]
        if spec.get("initContainers"):
            raise pod_env.UnsupportedPod("init containers are not supported by the node agent")
        for sub in ("work", "logs", "pids", "termination"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        self._adopt_previous_runs(pod)

    def _adopt_previous_runs(self, pod: dict[str, Any]) -> None:
        """A restarted agent finds the pods of the agent before it: their containers are lost.

        A SIGKILLed agent leaves its containers running, orphaned (each has its own session);
        they are killed here, before anything else, so that a lost run never overlaps the
        run that replaces it, and reported terminated with 137 `NodeAgentRestarted` — the
        node lost them, as a node reboot would. (A real kubelet adopts its runtime's
        containers; this agent cannot wait on another process's children, so it does not.)
        """
        previous = {s["name"]: s for s in pod.get("status", {}).get("containerStatuses") or []}
        for run in self.containers:
            self._kill_orphan(run)
            status = previous.get(run.name)
            if status is None:
                continue
            run.restart_count = status.get("restartCount", 0)
            state = status.get("state", {})
            if "running" in state:
                run.terminated = {"exitCode": 137, "reason": "NodeAgentRestarted"}
            elif "terminated" in state:
                run.terminated = state["terminated"]

    def _kill_orphan(self, run: ContainerRun) -> None:
        """Kill the process group a previous agent started for `run`, if it still lives."""
        pid_file = self.directory / "pids" / f"{run.name}.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            log.warning(
                "pod %s: killing container %s (pid %d) of the agent before",
                self.pod["metadata"]["name"],
                run.name,
                pid,
            )
            stop_process_groups([pid], 0.0, first_signal=signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    # ------------------------------------------------------------- containers
    def _restart_wanted(self, run: ContainerRun, pod: dict[str, Any]) -> bool:
        if run.terminated is None:
            return True
        policy = pod["spec"].get("restartPolicy", "Always")
        failed = bool(run.terminated["exitCode"] != 0)
        return policy == "Always" or (policy == "OnFailure" and failed)

    def _reap_and_restart(self, pod: dict[str, Any]) -> None:
        for run in self.containers:
            if run.process is not None and run.process.poll() is not None:
                self._record_exit(run)
            due = time.monotonic() >= run.next_start
            if run.process is None and due and self._restart_wanted(run, pod):
                self._start_container(run, pod)

    def _record_exit(self, run: ContainerRun) -> None:
        assert run.process is not None and run.started_at is not None
        code = run.process.returncode
        exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128+N
        run.terminated = {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": _timestamp(run.started_at),
            "finishedAt": _timestamp(_now()),
            "containerID": f"process://{run.process.pid}",
        }
        message = self._termination_message(run, exit_code)
        if message:
            run.terminated["message"] = message
        (self.directory / "pids" / f"{run.name}.pid").unlink(missing_ok=True)
        run.process = None
        self._back_off(run)

    def _termination_message(self, run: ContainerRun, exit_code: int) -> str:
        """What a kubelet puts in `state.terminated.message` for this run."""
        path = self.directory / "termination" / run.name
        with contextlib.suppress(OSError), path.open("rb") as file:
            written = file.read(TERMINATION_MESSAGE_BYTES)
            if written:
                return written.decode("utf-8", "replace")
        policy = run.spec.get("terminationMessagePolicy", "File")
        if policy != "FallbackToLogsOnError" or exit_code == 0:
            return ""
        log_path = self.directory / "logs" / f"{run.name}.log"
        try:
            with log_path.open("rb") as file:
                file.seek(max(0, log_path.stat().st_size - FALLBACK_LOG_BYTES))
                tail = file.read()
        except OSError:
            return ""
        return b"\n".join(tail.splitlines()[-FALLBACK_LOG_LINES:]).decode("utf-8", "replace")

    def _back_off(self, run: ContainerRun) -> None:
        backoff = self.context.restart_backoff_seconds * 2**run.restart_count
        run.next_start = time.monotonic() + min(backoff, self.context.restart_backoff_max_seconds)

    def _start_container(self, run: ContainerRun, pod: dict[str, Any]) -> None:
        if run.terminated is not None:
            run.last_terminated = run.terminated
            run.terminated = None
            run.restart_count += 1
        env = self._environment(pod, run.spec)
        termination = self.directory / "termination" / run.name
        termination.write_bytes(b"")  # a fresh, empty file for every run, as a kubelet mounts
        env[TERMINATION_MESSAGE_PATH_ENV] = str(termination)
        argv = pod_env.command_line(run.spec, env)
        log_path = self.directory / "logs" / f"{run.name}.log"
        run.started_at = _now()
        try:
            with log_path.open("ab") as output:
                run.process = subprocess.Popen(
                    argv,
                    cwd=self._working_dir(run.spec),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as error:
            run.terminated = {
                "exitCode": 128,
                "reason": "StartError",
                "message": str(error),
                "startedAt": _timestamp(run.started_at),
                "finishedAt": _timestamp(_now()),
            }
            self._back_off(run)
            return
        (self.directory / "pids" / f"{run.name}.pid").write_text(str(run.process.pid))

    def _working_dir(self, container: dict[str, Any]) -> Path:
        # Honour a workingDir that exists on this machine (e.g. a checkout); images' paths
        # do not, so those containers run in the pod's own directory.
        requested = container.get("workingDir")
        if requested and Path(requested).is_dir():
            return Path(requested)
        return self.directory / "work"

    def _environment(self, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
        base = pod_env.base_environment(pod, self.context.api_host, self.context.api_port)
        if self._token_issued_at is not None:
            base[pod_env.SERVICEACCOUNT_DIR_ENV] = str(self.directory / "serviceaccount")
        return pod_env.container_environment(pod, container, base, self._read_object)

    def _read_object(self, kind: str, name: str) -> dict[str, str] | None:
        namespace = self.pod["metadata"]["namespace"]
        resource = "configmaps" if kind == "configMapRef" else "secrets"
        try:
            found = self.context.api.request(
                "GET", f"/api/v1/namespaces/{namespace}/{resource}/{name}"
            )
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        data = found.get("data") or {}
        if resource == "secrets":
            return {key: base64.b64decode(value).decode() for key, value in data.items()}
        return dict(data)

    def _kill_all(self, grace_seconds: float) -> None:
        for run in self.containers:
            if run.process is not None:
                stop_child(run.process, grace_seconds)
                self._record_exit(run)

    # ----------------------------------------------------------- token
    def _refresh_token(self, pod: dict[str, Any]) -> None:
        if pod["spec"].get("automountServiceAccountToken") is False:
            return
        if self._token_issued_at is not None and not pod_env.token_refresh_due(
            self._token_issued_at, _now()
        ):
            return
        account = pod["spec"].get("serviceAccountName") or "default"
        namespace = pod["metadata"]["namespace"]
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        try:
            response = self.context.api.request("POST", path, pod_env.token_request_body(pod))
        except ApiError as error:
            if error.status not in TOKEN_NOT_YET_STATUSES:
                raise
            # It used to fail the pod (exit 128) before its container started: chaos runs
            # saw trials whose program never ran (docs/reliability.md).
            raise TokenNotGranted(f"token for {account} not granted yet: {error}") from None
        pod_env.write_serviceaccount_dir(
            self.directory / "serviceaccount",
            response["status"]["token"],
            self.context.ca_cert,
            namespace,
        )
        self._token_issued_at = _now()

    # ------------------------------------------------------------ status
    @staticmethod
    def _is_terminal(pod: dict[str, Any]) -> bool:
        return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")

    def _phase(self, pod: dict[str, Any]) -> str:
        if any(run.running for run in self.containers):
            return "Running"
        if any(self._restart_wanted(run, pod) for run in self.containers):
            started = any(run.restart_count or run.terminated for run in self.containers)
            return "Running" if started else "Pending"
        failed = any(run.terminated and run.terminated["exitCode"] != 0 for run in self.containers)
        return "Failed" if failed else "Succeeded"

    def _condition(self, kind: str, is_true: bool, reason: str = "") -> dict[str, Any]:
        status = "True" if is_true else "False"
        previous = self._conditions.get(kind)
        if previous is None or previous["status"] != status:
            previous = {"type": kind, "status": status, "lastTransitionTime": _timestamp(_now())}
            if reason:
                previous["reason"] = reason
            self._conditions[kind] = previous
        return previous

    def _status(self, pod: dict[str, Any]) -> dict[str, Any]:
        phase = self._phase(pod)
        all_running = all(run.running for run in self.containers)
        not_ready = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
        managed = [
            self._condition("Initialized", True),
            self._condition("ContainersReady", all_running, "" if all_running else not_ready),
            self._condition("Ready", all_running, "" if all_running else not_ready),
        ]
        managed_types = {c["type"] for c in managed}
        kept = [
            c
            for c in pod.get("status", {}).get("conditions") or []
            if c["type"] not in managed_types
        ]
        return {
            "phase": phase,
            "conditions": kept + managed,
            "hostIP": pod_env.POD_IP,
            "hostIPs": [{"ip": pod_env.POD_IP}],
            "podIP": pod_env.POD_IP,
            "podIPs": [{"ip": pod_env.POD_IP}],
            "startTime": pod.get("status", {}).get("startTime") or self._start_time,
            "containerStatuses": [run.status() for run in self.containers],
        }

    def _report(self, pod: dict[str, Any]) -> None:
        if self._is_terminal(pod):
            return
        status = self._status(pod) if self._failure is None else self._failed(*self._failure)
        since = time.monotonic() - self._reported_at
        if not report_due(status, pod.get("status") or {}, self._reported, since):
            return
        self._patch_status(status)  # a failure propagates: the next pass sends it again
        self._reported = status
        self._reported_at = time.monotonic()

    def _patch_status(self, status: dict[str, Any]) -> None:
        metadata = self.pod["metadata"]
        path = f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}/status"
        try:
            self.context.api.request("PATCH", path, {"status": status}, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.status != 404:  # a vanished pod needs no status
                raise

    def _failed(self, reason: str, message: str) -> dict[str, Any]:
        """The status of a pod that cannot run here."""
        for run in self.containers:
            if run.terminated is None:  # so `kubectl get pods` shows why
                run.terminated = {"exitCode": 128, "reason": reason, "message": message[:1000]}
        return {
            "phase": "Failed",
            "reason": reason,
            "message": message[:1000],
            "conditions": [self._condition("Ready", False, reason)],
            "containerStatuses": [run.status() for run in self.containers],
        }

    # ---------------------------------------------------------- deletion
    def _terminate(self, pod: dict[str, Any]) -> None:
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        if any(run.running for run in self.containers):
            self._kill_all(float(grace))
            if not self._is_terminal(pod):
                self._report(pod)
        metadata = pod["metadata"]
        path = f"/api/v1/namespaces/{metadata['namespace']}/pods/{metadata['name']}"
        options = {"gracePeriodSeconds": 0, "preconditions": {"uid": metadata["uid"]}}
        try:
            self.context.api.request("DELETE", path, options)
        except ApiError as error:
            if error.status not in (404, 409):
                raise


def stop_orphaned_containers(nodes_dir: Path) -> None:
    """Kill container process groups left behind by a node agent that was SIGKILLed."""
    for pid_file in nodes_dir.glob("*/pods/*/pids/*.pid"):
        with contextlib.suppress(ValueError):
            stop_process_groups([int(pid_file.read_text())], grace_seconds=2)
        pid_file.unlink(missing_ok=True)
