"""The operator's settings: one typed dataclass, each field settable by flag or environment.

``--stop-grace-seconds 5`` and ``KUBETUNE_STOP_GRACE_SECONDS=5`` set the same field
(a flag wins over the environment). The flag help is each field's docstring, so
``kubetune operator --help`` and docs/operator.md never disagree with the code.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import os
import socket
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "KUBETUNE_"


@dataclass(frozen=True)
class OperatorSettings:
    """How the operator runs; defaults suit a production cluster."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to watch (comma-separated); empty: every namespace."""
    kubeconfig: str | None = None
    """Kubeconfig file; unset: the in-cluster service account, else $KUBECONFIG."""
    workers: int = 16
    """Studies reconciled at once (each study is only ever reconciled by one worker). A
    reconcile mostly waits on the API server, so more workers than cores pay: with 120
    studies completing a trial each at once, 16 gave half the p50 of 4 (benchmarks.scale)."""
    api_concurrency: int = 16
    """Concurrent API calls when creating or stopping many trials in one reconcile."""
    launch_batch: int = 20
    """Most new trials one reconcile creates; a study with more free slots is looked at again
    right after the others queued, so a study launching hundreds of trials (created one after
    the other, to never leave a gap in the indices) does not hold a worker while other
    studies wait to launch or to show their trials Running."""
    status_hold_seconds: float = 5.0
    """Longest a study's status writes wait behind launches. A reconcile that launched trials
    leaves its Trial and study status writes to the study's next reconcile, which the work
    queue serves after every study with a freed slot: in a burst of completions the API
    server gets every successor's creates first and the status writes after. 0 writes them
    in the launching reconcile."""
    request_timeout_seconds: float = 30.0
    """Longest a single API call may take."""
    reconcile_interval_seconds: float = 30.0
    """Every study is reconciled at least this often, events or not (the safety net)."""
    retry_seconds: float = 5.0
    """Wait before reconciling a study again after its reconcile failed (capped by the interval)."""
    warm_start_retry_seconds: float = 10.0
    """How often a study waiting for its warm-start source (a ConfigMap, an earlier study)
    looks for it again."""
    relist_interval_seconds: float = 600.0
    """How often the watch cache is checked against a full LIST of every kind."""
    stop_grace_seconds: float = 30.0
    """How long a trial asked to stop (spec.stop) may take to exit before its Job is deleted."""
    max_pod_retries: int = 2
    """A trial whose pod was lost (exit 137/143 it did not ask for, pod deleted, node gone) is
    run again as the same trial (same index and parameters) this often before it fails."""
    job_events_interval_seconds: float = 10.0
    """Most often a namespace's Job FailedCreate Events are read, while a trial awaits its pod."""
    metrics_port: int = 8080
    """Port of /metrics (Prometheus) and /healthz (liveness); 0 turns the server off."""
    metrics_host: str = "0.0.0.0"
    """Address the metrics server binds."""
    leader_election: bool = True
    """Elect one active replica through a coordination.k8s.io Lease."""
    lease_name: str = "kubetune-operator"
    """Name of that Lease."""
    lease_namespace: str = "default"
    """Namespace of that Lease (in a pod: set it to the pod's namespace)."""
    lease_duration_seconds: float = 15.0
    """A leader that has not renewed for this long is replaced."""
    lease_renew_seconds: float = 5.0
    """How often the leader renews (and a follower checks) the Lease."""
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    """This replica's name in the Lease."""
    log_level: str = "INFO"
    """Python logging level of the operator (kopf's own is one level quieter)."""
    watch_timeout_seconds: int = 300
    """Longest a single watch request lasts before it is renewed (whole seconds)."""

    def __post_init__(self) -> None:
        for name in ("workers", "api_concurrency", "launch_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.status_hold_seconds < 0:
            raise ValueError("status_hold_seconds must not be negative")
        if self.lease_renew_seconds >= self.lease_duration_seconds:
            raise ValueError("lease_renew_seconds must be shorter than lease_duration_seconds")


FIELD_TYPES: dict[str, Any] = typing.get_type_hints(OperatorSettings)
"""Each field's type, resolved (this module's annotations are strings)."""


def field_docs() -> dict[str, str]:
    """Each field's docstring, read from this class's source."""
    tree = ast.parse(inspect.getsource(OperatorSettings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
        ):
            docs[node.target.id] = str(following.value.value)
    return docs


def flag_of(name: str) -> str:
    """The command-line flag of a settings field: ``metrics_port`` → ``--metrics-port``."""
    return "--" + name.replace("_", "-")


def env_of(name: str) -> str:
    """A settings field's environment variable: ``metrics_port`` → ``KUBETUNE_METRICS_PORT``."""
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    docs = field_docs()
    for item in dataclasses.fields(OperatorSettings):
        flag = flag_of(item.name)
        env = env_of(item.name)
        help_text = f"{docs.get(item.name, '')} [env {env}]"
        kind = FIELD_TYPES[item.name]
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=help_text)
        elif typing.get_origin(kind) is tuple:
            singular = flag.removesuffix("s")  # --namespace a --namespace b, or --namespaces a,b
            parser.add_argument(flag, singular, dest=item.name, action="append", help=help_text)
        else:
            parser.add_argument(flag, help=help_text)


def from_arguments(
    args: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> OperatorSettings:
    values: dict[str, Any] = {}
    for item in dataclasses.fields(OperatorSettings):
        raw = getattr(args, item.name, None)
        if raw is None:
            raw = environ.get(env_of(item.name))
        if isinstance(raw, list):
            raw = ",".join(raw)
        if raw is None or raw == "":
            continue
        values[item.name] = _convert(FIELD_TYPES[item.name], raw, item.name)
    return OperatorSettings(**values)


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
"""How a true boolean may be written in the environment (any case); anything else is false."""


def _convert(kind: Any, raw: Any, name: str) -> Any:
    if isinstance(raw, bool):
        return raw
    try:
        if kind is bool:
            return str(raw).lower() in TRUE_WORDS
        if kind is int or kind is float:
            return kind(raw)
        if typing.get_origin(kind) is tuple:
            return tuple(part.strip() for part in str(raw).split(",") if part.strip())
    except ValueError:
        raise ValueError(
            f"{name}: cannot read {raw!r} as {getattr(kind, '__name__', kind)}"
        ) from None
    return str(raw)
