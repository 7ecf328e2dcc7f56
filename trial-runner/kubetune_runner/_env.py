"""The environment contract between a trial and whoever started it.

The operator (in a cluster) and the local backend (``kubetune run``) start trials with a few
environment variables; this module is the single place that names and reads them, so the
protocol can be read off one page. Everything is parsed eagerly and checked, so a mismatch
between the runner and its starter fails with a message that names the variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PARAMS = "KUBETUNE_PARAMS"
"""JSON object: the trial's parameters, e.g. ``{"lr": 0.01, "optimizer": "adam"}``."""
OBJECTIVE = "KUBETUNE_OBJECTIVE"
"""JSON list of ``{"metric": NAME, "direction": "maximize"|"minimize"}``; optional."""
LOCAL_DIR = "KUBETUNE_LOCAL_DIR"
"""Local mode: the trial's directory (``metrics.jsonl`` is appended, ``stop`` is watched)."""
TRIAL = "KUBETUNE_TRIAL"
"""Cluster mode: the name of the Trial object this process reports to."""
NAMESPACE = "KUBETUNE_NAMESPACE"
"""Cluster mode: its namespace (default: the service account's ``namespace`` file)."""
SERVICE_HOST = "KUBERNETES_SERVICE_HOST"
SERVICE_PORT = "KUBERNETES_SERVICE_PORT"
SERVICEACCOUNT_DIR = "KUBETUNE_SERVICEACCOUNT_DIR"
"""Cluster mode: directory holding ``token``, ``ca.crt`` and ``namespace``."""
DEFAULT_SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
DELIVERY_TIMEOUT = "KUBETUNE_DELIVERY_TIMEOUT_SECONDS"
"""Cluster mode: how long a finished trial keeps trying to deliver its last reports."""
DEFAULT_DELIVERY_TIMEOUT_SECONDS = 300.0
"""Long enough to outlast an API server restart or a control-plane upgrade; the pod is held
that long at most, and only while the API does not answer."""
TERMINATION_MESSAGE_PATH = "KUBETUNE_TERMINATION_MESSAGE_PATH"
"""Cluster mode: where the final report is written for the kubelet (the container's
``terminationMessagePath``; the operator sets it when a template changes the path)."""
DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log"

CHECKPOINT_DIR = "KUBETUNE_CHECKPOINT_DIR"
"""Where this trial saves its checkpoint (a directory, or a URI prefix such as ``s3://…``)."""
RESTORE_FROM = "KUBETUNE_RESTORE_FROM"
"""The checkpoint this trial starts from; unset when it starts fresh."""

DIRECTIONS = ("maximize", "minimize")


class ConfigurationError(RuntimeError):
    """The environment does not describe a kubetune trial the runner can report to."""


@dataclass(frozen=True)
class Objective:
    """One optimised metric; the bounded series always keeps its best point."""

    metric: str
    direction: str
    """``"maximize"`` or ``"minimize"``."""

    def better(self, candidate: float, incumbent: float) -> bool:
        if self.direction == "maximize":
            return candidate > incumbent
        return candidate < incumbent


@dataclass(frozen=True)
class LocalConfig:
    """Local mode: the laptop backend reads the trial directory."""

    directory: str


@dataclass(frozen=True)
class ClusterConfig:
    """Cluster mode: patch our own Trial's status through the Kubernetes API."""

    trial: str
    namespace: str
    api_url: str
    """``https://host:port`` of the API server."""
    token_path: str
    """Re-read on every request: projected service-account tokens are rotated."""
    ca_path: str
    objectives: list[Objective]
    delivery_timeout_seconds: float = DEFAULT_DELIVERY_TIMEOUT_SECONDS
    termination_message_path: str = DEFAULT_TERMINATION_MESSAGE_PATH


def params(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    raw = environ.get(PARAMS)
    if raw is None:
        raise ConfigurationError(
            f"{PARAMS} is not set: run this program as a kubetune trial "
            f"(the operator or `kubetune run` sets it to the trial's parameters as JSON)"
        )
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ConfigurationError(f"{PARAMS} is not valid JSON ({error}): {raw[:200]!r}") from None
    if not isinstance(value, dict):
        raise ConfigurationError(f"{PARAMS} must be a JSON object, got {type(value).__name__}")
    return value


def objectives(environ: Mapping[str, str] = os.environ) -> list[Objective]:
    raw = environ.get(OBJECTIVE)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise ConfigurationError(
            f"{OBJECTIVE} is not valid JSON ({error}): {raw[:200]!r}"
        ) from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise ConfigurationError(f"{OBJECTIVE} must be a JSON list of objectives")
    result = []
    for item in value:
        metric = item.get("metric") if isinstance(item, dict) else None
        direction = item.get("direction") if isinstance(item, dict) else None
        if not isinstance(metric, str) or not metric or direction not in DIRECTIONS:
            raise ConfigurationError(
                f"{OBJECTIVE} entries must look like "
                f'{{"metric": "val_accuracy", "direction": "maximize"}}, got {item!r}'
            )
        result.append(Objective(metric, direction))
    return result


def transport_config(
    environ: Mapping[str, str] = os.environ,
) -> LocalConfig | ClusterConfig:
    """Which transport the environment asks for; local mode wins when both are present."""
    local_dir = environ.get(LOCAL_DIR)
    if local_dir:
        return LocalConfig(local_dir)
    trial = environ.get(TRIAL)
    if trial:
        return _cluster_config(trial, environ)
    hint = (
        f" ({PARAMS} is set, so this looks like a trial missing its transport)"
        if (PARAMS in environ)
        else ""
    )
    raise ConfigurationError(
        f"kubetune-runner does not know where to report{hint}: set {LOCAL_DIR} (local mode, "
        f"set by `kubetune run`) or {TRIAL} with {NAMESPACE}, {SERVICE_HOST} and "
        f"{SERVICE_PORT} (cluster mode, set by the operator in the trial's pod)"
    )


def _cluster_config(trial: str, environ: Mapping[str, str]) -> ClusterConfig:
    host = environ.get(SERVICE_HOST)
    port = environ.get(SERVICE_PORT, "443")
    if not host:
        raise ConfigurationError(
            f"{TRIAL}={trial} asks for cluster mode but {SERVICE_HOST} is not set "
            f"(it is set by Kubernetes in every pod)"
        )
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    account_dir = environ.get(SERVICEACCOUNT_DIR) or DEFAULT_SERVICEACCOUNT_DIR
    namespace = environ.get(NAMESPACE) or _read_optional(os.path.join(account_dir, "namespace"))
    if not namespace:
        raise ConfigurationError(
            f"cluster mode needs the trial's namespace: set {NAMESPACE} "
            f"or mount a service account token in {account_dir}"
        )
    ca_path = os.path.join(account_dir, "ca.crt")
    if not os.path.exists(ca_path):
        raise ConfigurationError(
            f"cluster mode needs the API server's CA at {ca_path}: mount the service account "
            f"token (automountServiceAccountToken) or set {SERVICEACCOUNT_DIR}"
        )
    return ClusterConfig(
        trial=trial,
        namespace=namespace.strip(),
        api_url=f"https://{host}:{port}",
        token_path=os.path.join(account_dir, "token"),
        ca_path=ca_path,
        objectives=objectives(environ),
        delivery_timeout_seconds=delivery_timeout(environ),
        termination_message_path=environ.get(TERMINATION_MESSAGE_PATH)
        or DEFAULT_TERMINATION_MESSAGE_PATH,
    )


def delivery_timeout(environ: Mapping[str, str] = os.environ) -> float:
    raw = environ.get(DELIVERY_TIMEOUT)
    if not raw:
        return DEFAULT_DELIVERY_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ConfigurationError(
            f"{DELIVERY_TIMEOUT} must be a number of seconds >= 0 "
            f"(default {DEFAULT_DELIVERY_TIMEOUT_SECONDS:g}), got {raw!r}"
        )
    return value


def checkpoint_dir(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where to save, or None when the study keeps no checkpoints."""
    return environ.get(CHECKPOINT_DIR) or None


def restore_from(environ: Mapping[str, str] = os.environ) -> str | None:
    """What to start from, or None for a fresh start."""
    return environ.get(RESTORE_FROM) or None


def _read_optional(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except OSError:
        return None
