"""Fixtures and helpers for the operator's integration tests, on top of `tests.cluster`.

- `crds` (session): the kubetune CRDs installed in the test cluster.
- `operator`: a factory starting `kubetune operator --namespace <ns>` as a subprocess, with
  settings shrunk for tests (short grace and lease periods, a free metrics port); the
  subprocess makes SIGKILL tests real. Everything started is stopped at teardown.
- `custom`: a `CustomObjectsApi` for studies and trials.
- `study_manifest`: a study whose trials run `trial_scripts/quadratic.py` under
  `kubetune-runner`, in the node agent's processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.cluster.fixtures import TestCluster
from tests.cluster.wait import until

GROUP, VERSION = "kubetune.dev", "v1alpha1"
STUDY_LABEL = "kubetune.dev/study"
REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "trial_scripts" / "quadratic.py"
KUBETUNE = Path(sys.executable).parent / "kubetune"


@pytest.fixture(scope="session")
def crds(kube_api: client.ApiClient) -> None:
    """Install the committed CRDs (replacing older versions) and wait until they serve."""
    extensions = client.ApiextensionsV1Api(kube_api)
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        document = yaml.safe_load(path.read_text())
        name = document["metadata"]["name"]
        try:
            existing = extensions.read_custom_resource_definition(name)
            document["metadata"]["resourceVersion"] = existing.metadata.resource_version
            extensions.replace_custom_resource_definition(name, document)
        except client.ApiException as error:
            if error.status != 404:
                raise
            extensions.create_custom_resource_definition(document)
        until(
            lambda n=name: extensions.read_custom_resource_definition(n),
            lambda crd: any(
                c.type == "Established" and c.status == "True"
                for c in (crd.status.conditions or [])
            ),
            f"CRD {name} established",
            timeout=30,
        )


@pytest.fixture
def custom(kube_api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(kube_api)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class OperatorProcess:
    """One `kubetune operator` subprocess; restartable, killable."""

    argv: list[str]
    log_path: Path
    metrics_port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _logs: list[Any] = field(default_factory=list)

    def start(self) -> OperatorProcess:
        log = self.log_path.open("ab")
        self._logs.append(log)
        self.process = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
        )
        self.starts += 1
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no lease release — what a node failure or OOM kill does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        for log in self._logs:
            log.close()

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()

    def healthz(self) -> int:
        url = f"http://127.0.0.1:{self.metrics_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return int(response.status)
        except OSError:
            return 0

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def operator(
    cluster: TestCluster, crds: None, namespace: str, tmp_path: Path
) -> Iterator[Callable[..., OperatorProcess]]:
    """`operator(**flags)` starts an operator watching the test's namespace."""
    started: list[OperatorProcess] = []

    def start(**flags: Any) -> OperatorProcess:
        settings = {
            "namespace": namespace,
            "kubeconfig": str(cluster.kubeconfig),
            "metrics-port": free_port(),
            "reconcile-interval-seconds": 2,
            "stop-grace-seconds": 2,
            "lease-namespace": namespace,
            "lease-duration-seconds": 4,
            "lease-renew-seconds": 1,
            "identity": f"operator-{len(started)}",
        }
        settings.update({k.replace("_", "-"): v for k, v in flags.items()})
        argv = [str(KUBETUNE), "operator"]
        for key, value in settings.items():
            if isinstance(value, bool):
                argv.append(f"--{key}" if value else f"--no-{key}")
            else:
                argv += [f"--{key}", str(value)]
        handle = OperatorProcess(
            argv,
            tmp_path / f"operator-{len(started)}.log",
            int(settings["metrics-port"]),
            {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")},
        )
        started.append(handle.start())
        until(handle.healthz, lambda code: code == 200, "operator /healthz", timeout=90)
        return handle

    yield start
    for handle in started:
        handle.stop()
    for handle in started:
        if "Traceback" in handle.log():
            print(f"--- {handle.log_path} ---\n{handle.log()[-5000:]}")


def study_manifest(
    name: str,
    *,
    max_trials: int = 8,
    parallel: int = 4,
    script_args: list[str] | None = None,
    gpus: int = 0,
    algorithm: str = "random",
    parameters: list[dict[str, Any]] | None = None,
    objective: dict[str, Any] | None = None,
    max_failed: int | None = None,
    extra_spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A study whose trials run quadratic.py (loss = x²) under kubetune-runner."""
    command = [
        "kubetune-runner",
        "--stop-poll-seconds",
        "0.5",
        "--",
        sys.executable,
        str(SCRIPT),
        "--x",
        "${params.x}",
        *(script_args or []),
    ]
    budget: dict[str, Any] = {"maxTrials": max_trials, "parallelTrials": parallel}
    if max_failed is not None:
        budget["maxFailedTrials"] = max_failed
    spec: dict[str, Any] = {
        "objective": objective or {"metric": "loss", "direction": "minimize"},
        "parameters": parameters or [{"name": "x", "type": "float", "low": -2.0, "high": 2.0}],
        "algorithm": {"name": algorithm},
        "budget": budget,
        "seed": 11,
        "trialTemplate": {
            "resources": {"gpus": gpus},
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "train", "image": "python:3.11-slim", "command": command}
                        ]
                    }
                }
            },
        },
    }
    spec.update(extra_spec or {})
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": spec,
    }


def create_study(custom: client.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningstudies", manifest)


def get_study(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "tuningstudies", name)


def list_trials(
    custom: client.CustomObjectsApi, namespace: str, study: str
) -> list[dict[str, Any]]:
    listing = custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, "trials", label_selector=f"{STUDY_LABEL}={study}"
    )
    return sorted(listing["items"], key=lambda t: t["spec"]["index"])


def wait_for_phase(
    custom: client.CustomObjectsApi,
    namespace: str,
    name: str,
    phases: tuple[str, ...] = ("Succeeded", "Failed"),
    timeout: float = 90,
) -> dict[str, Any]:
    def describe() -> dict[str, Any]:
        return get_study(custom, namespace, name)

    return until(
        describe,
        lambda s: (s.get("status") or {}).get("phase") in phases,
        f"study {name} to reach {phases}",
        timeout=timeout,
    )


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_),
        None,
    )


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`{labels-string: value}` of one metric family in Prometheus text format."""
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, value = line.rsplit(" ", 1)
            samples[key[len(name) :]] = float(value)
    return samples


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)[:4000]


def elapsed(since: float) -> float:
    return time.monotonic() - since
