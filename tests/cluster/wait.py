"""Polling helpers for tests against the real cluster: wait for a state, fail clearly.

Controllers converge asynchronously, so tests wait for an observable state instead of
sleeping. Every helper polls until a deadline and, on timeout, raises `WaitTimeout`
with the last thing it saw, which is what a reader of a failed CI run needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.2


class WaitTimeout(AssertionError):
    """The awaited state did not come in time (an AssertionError, so pytest shows it)."""


def until(
    observe: Callable[[], T],
    done: Callable[[T], bool],
    description: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> T:
    """Call `observe` until `done(result)`; return that result."""
    deadline = time.monotonic() + timeout
    while True:
        observed = observe()
        if done(observed):
            return observed
        if time.monotonic() > deadline:
            raise WaitTimeout(
                f"timed out after {timeout:.0f}s waiting for {description}; last seen: {observed!r}"
            )
        time.sleep(POLL_SECONDS)


def condition_status(obj: Any, condition_type: str) -> str | None:
    """The status ("True"/"False"/"Unknown") of a condition on a model or dict, or None."""
    status = _field(obj, "status")
    for condition in _field(status, "conditions") or []:
        if _field(condition, "type") == condition_type:
            return str(_field(condition, "status"))
    return None


def _field(obj: Any, name: str) -> Any:
    """`name` of a dict or of a `kubernetes` model (same spelling for these fields)."""
    if obj is None:
        return None
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def pod_phase(
    core: client.CoreV1Api,
    namespace: str,
    name: str,
    phases: Iterable[str],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> client.V1Pod:
    """Wait until the pod is in one of `phases`; returns the pod."""
    wanted = set(phases)
    return until(
        lambda: core.read_namespaced_pod(name, namespace),
        lambda pod: pod.status is not None and pod.status.phase in wanted,
        f"pod {namespace}/{name} to reach {sorted(wanted)}",
        timeout,
    )


def job_condition(
    batch: client.BatchV1Api,
    namespace: str,
    name: str,
    condition_types: Iterable[str],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> client.V1Job:
    """Wait until one of `condition_types` (e.g. Complete, Failed) is True on the Job."""
    wanted = tuple(condition_types)
    return until(
        lambda: batch.read_namespaced_job(name, namespace),
        lambda job: any(condition_status(job, kind) == "True" for kind in wanted),
        f"job {namespace}/{name} condition in {wanted}",
        timeout,
    )


def deleted(
    read: Callable[[], object], description: str, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> None:
    """Wait until `read()` raises 404 Not Found."""

    def gone() -> bool:
        try:
            read()
        except client.ApiException as error:
            if error.status == 404:
                return True
            raise
        return False

    until(gone, bool, f"{description} to be deleted", timeout)


def file_text(path: Path, done: Callable[[str], bool], timeout: float = 30.0) -> str:
    """Wait until the file exists and its text satisfies `done`; returns the text."""
    return until(
        lambda: path.read_text() if path.exists() else "",
        done,
        f"contents of {path}",
        timeout,
    )
