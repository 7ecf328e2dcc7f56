"""The node agent's pod worker outlives API outages: status updates are retried until they land.

Unit tests of the harness itself (no cluster): a fake API refuses the first PATCHes, as an
API server does while it restarts, and the worker must still deliver the pod's final status.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.pods import (
    RESYNC_SECONDS,
    NodeContext,
    PodWorker,
    TokenNotGranted,
    is_transient,
    report_due,
)
from tests.cluster.rest import ApiError

RUNNING = {
    "phase": "Running",
    "containerStatuses": [
        {"name": "c", "restartCount": 0, "state": {"running": {"startedAt": "t0"}}}
    ],
}
DONE = {
    "phase": "Succeeded",
    "containerStatuses": [
        {"name": "c", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}
    ],
}


def test_a_changed_status_is_sent() -> None:
    assert report_due(DONE, RUNNING, RUNNING, 0.0)
    assert report_due(RUNNING, {}, None, 0.0)


def test_a_status_the_api_shows_is_not_sent_again() -> None:
    shown = {**RUNNING, "conditions": [{"type": "PodScheduled", "status": "True"}]}
    assert not report_due(RUNNING, shown, RUNNING, RESYNC_SECONDS * 10)


def test_a_sent_status_the_api_does_not_show_is_sent_again_after_a_while() -> None:
    assert not report_due(DONE, RUNNING, DONE, 0.0)  # the watch may just lag behind
    assert report_due(DONE, RUNNING, DONE, RESYNC_SECONDS)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (ApiError(503, "apiserver is shutting down"), True),
        (ApiError(429, "too many requests"), True),
        (ApiError(422, "invalid"), False),
        (ApiError(403, "forbidden"), False),
        (TokenNotGranted("no relationship found between node and this object"), True),
        (ValueError("bad pod"), False),
    ],
)
def test_which_failures_are_worth_retrying(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


class FlakyApi:
    """Refuses the first `failures` status PATCHes; records the ones that land."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.landed: list[dict[str, Any]] = []
        self.succeeded = threading.Event()

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        assert (method, path) == ("PATCH", "/api/v1/namespaces/ns/pods/p/status"), (method, path)
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("the API server is restarting")
        self.landed.append(body["status"])
        if body["status"]["phase"] == "Succeeded":
            self.succeeded.set()
        return {}


def test_a_finished_pod_is_reported_although_the_first_status_updates_failed(
    tmp_path: Path,
) -> None:
    api = FlakyApi(failures=5)
    context = NodeContext("node-0", api, tmp_path, tmp_path / "ca.crt", "127.0.0.1", 1)  # type: ignore[arg-type]
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "command": [sys.executable, "-c", "pass"]}],
        },
        "status": {"phase": "Pending"},
    }
    worker = PodWorker(context, pod)
    worker.start()
    try:
        assert api.succeeded.wait(timeout=60), f"never reported Succeeded; landed: {api.landed}"
    finally:
        worker.shutdown(0)
    assert api.failures == 0
    final = api.landed[-1]["containerStatuses"][0]["state"]["terminated"]
    assert (final["exitCode"], final["reason"]) == (0, "Completed")


class SlowAuthorizerApi:
    """Refuses the pod's token for a while, as a lagging Node authorizer (403) or an API
    server whose view of pods lags (404 "pod not found", seen after a pause) does."""

    def __init__(self, refusals: int, status: int) -> None:
        self.refusals = refusals
        self.status = status
        self.done = threading.Event()
        self.landed: list[dict[str, Any]] = []

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        if path.endswith("/token"):
            if self.refusals:
                self.refusals -= 1
                raise ApiError(self.status, "no relationship found / pod not found")
            return {"status": {"token": "t"}}
        self.landed.append(body["status"])
        if body["status"]["phase"] in ("Succeeded", "Failed"):
            self.done.set()
        return {}


@pytest.mark.parametrize("status", [403, 404])
def test_a_pod_waits_for_its_token_however_long_the_api_lags(tmp_path: Path, status: int) -> None:
    api = SlowAuthorizerApi(refusals=30, status=status)  # the agent used to fail the pod
    (tmp_path / "ca.crt").write_text("ca")
    context = NodeContext("node-0", api, tmp_path, tmp_path / "ca.crt", "127.0.0.1", 1)  # type: ignore[arg-type]
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-3"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "command": [sys.executable, "-c", "pass"]}],
        },
        "status": {"phase": "Pending"},
    }
    worker = PodWorker(context, pod)
    worker.start()
    try:
        assert api.done.wait(timeout=60), f"never finished; landed: {api.landed}"
    finally:
        worker.shutdown(0)
    assert api.refusals == 0
    assert api.landed[-1]["phase"] == "Succeeded", api.landed[-1]


class RecordingApi:
    """Accepts every status PATCH; `done` is set once the pod is reported finished."""

    def __init__(self) -> None:
        self.landed: list[dict[str, Any]] = []
        self.done = threading.Event()

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        self.landed.append(body["status"])
        if body["status"]["phase"] in ("Succeeded", "Failed"):
            self.done.set()
        return {}


def _run_to_the_end(tmp_path: Path, program: str, policy: str | None) -> dict[str, Any]:
    api = RecordingApi()
    context = NodeContext("node-0", api, tmp_path, tmp_path / "ca.crt", "127.0.0.1", 1)  # type: ignore[arg-type]
    container: dict[str, Any] = {"name": "c", "command": [sys.executable, "-c", program]}
    if policy:
        container["terminationMessagePolicy"] = policy
    pod = {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u-2"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [container],
        },
        "status": {"phase": "Pending"},
    }
    worker = PodWorker(context, pod)
    worker.start()
    try:
        assert api.done.wait(timeout=60), f"never finished; landed: {api.landed}"
    finally:
        worker.shutdown(0)
    state: dict[str, Any] = api.landed[-1]["containerStatuses"][0]["state"]["terminated"]
    return state


WRITE_MESSAGE = (
    "import os; open(os.environ['KUBETUNE_TERMINATION_MESSAGE_PATH'], 'w').write('x' * 5000)"
)


@pytest.mark.parametrize("policy", [None, "FallbackToLogsOnError"])
def test_the_termination_message_file_becomes_the_message_bounded_like_a_kubelet(
    tmp_path: Path, policy: str | None
) -> None:
    state = _run_to_the_end(tmp_path, WRITE_MESSAGE, policy)
    assert state["message"] == "x" * 4096


def test_a_failed_container_without_a_message_falls_back_to_its_log_end(tmp_path: Path) -> None:
    program = "print('\\n'.join(f'line {i}' for i in range(200))); raise SystemExit(3)"
    state = _run_to_the_end(tmp_path, program, "FallbackToLogsOnError")
    assert state["exitCode"] == 3
    lines = state["message"].splitlines()
    assert lines[-1] == "line 199" and len(lines) == 80


@pytest.mark.parametrize(("code", "policy"), [(3, None), (0, "FallbackToLogsOnError")])
def test_no_fallback_without_the_policy_or_for_a_success(
    tmp_path: Path, code: int, policy: str | None
) -> None:
    state = _run_to_the_end(tmp_path, f"print('hello'); raise SystemExit({code})", policy)
    assert "message" not in state
