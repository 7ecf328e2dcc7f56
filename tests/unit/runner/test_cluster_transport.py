"""Cluster mode against a small HTTPS stand-in for the API server.

The stand-in checks what a real API server would (path, bearer token, merge-patch content
type), applies merge patches to one Trial, and can be told to fail the next requests, so
these tests prove delivery survives outages without losing a report.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubetune_runner import _env
from kubetune_runner._cluster import ClusterSettings, ClusterTransport

NAMESPACE = "team-a"
TRIAL = "resnet-lr-3"
WRAPPER = [sys.executable, "-m", "kubetune_runner"]
TRIAL_PATH = f"/apis/kubetune.dev/v1alpha1/namespaces/{NAMESPACE}/trials/{TRIAL}"
FAST = ClusterSettings(
    request_timeout_seconds=2.0,
    stop_request_timeout_seconds=1.0,
    retry_initial_seconds=0.01,
    retry_max_seconds=0.05,
    min_patch_interval_seconds=0.0,
    stop_cache_seconds=0.3,
    exit_flush_seconds=5.0,
)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeApiServer:
    """One Trial behind ``GET .../trials/NAME`` and ``PATCH .../trials/NAME/status``."""

    token: str = "token-1"
    trial: dict[str, Any] = field(
        default_factory=lambda: {
            "apiVersion": "kubetune.dev/v1alpha1",
            "kind": "Trial",
            "metadata": {"name": TRIAL, "namespace": NAMESPACE},
            "spec": {"study": "resnet-lr", "index": 3, "parameters": {"lr": 0.1}},
        }
    )
    fail_patches: list[int] = field(default_factory=list)
    """Statuses to answer the next PATCHes with, one each, before accepting them."""
    forbid_patches: bool = False
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def patches(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == "PATCH"]

    def status(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.trial.get("status", {})))


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def make_handler(api: FakeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def refuse(self, code: int, message: str) -> None:
            self.answer(code, {"kind": "Status", "code": code, "message": message})

        def handle_request(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            with api.lock:
                api.requests.append(Request(method, self.path, dict(self.headers), body))
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    return self.refuse(401, "Unauthorized")
                if method == "GET" and self.path == TRIAL_PATH:
                    return self.answer(200, api.trial)
                if method != "PATCH" or self.path != TRIAL_PATH + "/status":
                    return self.refuse(404, f"no route for {method} {self.path}")
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    return self.refuse(415, "unsupported content type")
                if api.forbid_patches:
                    return self.refuse(403, "trials.kubetune.dev is forbidden: not your trial")
                if api.fail_patches:
                    return self.refuse(api.fail_patches.pop(0), "try again later")
                if set(body) != {"status"}:
                    return self.refuse(422, "runner may only patch status")
                api.trial = merge_patch(api.trial, body)
                return self.answer(200, api.trial)

        def do_GET(self) -> None:
            self.handle_request("GET")

        def do_PATCH(self) -> None:
            self.handle_request("PATCH")

    return Handler


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1, its own CA."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def api(certificate: tuple[Path, Path]) -> Iterator[tuple[FakeApiServer, int]]:
    fake = FakeApiServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake, server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def trial_env(
    api: tuple[FakeApiServer, int], certificate: tuple[Path, Path], tmp_path: Path
) -> dict[str, str]:
    """The environment the operator gives a trial pod, with the token mounted in tmp_path."""
    fake, port = api
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(fake.token)
    (account / "ca.crt").write_bytes(certificate[0].read_bytes())
    (account / "namespace").write_text(NAMESPACE)
    return {
        _env.TRIAL: TRIAL,
        _env.SERVICE_HOST: "127.0.0.1",
        _env.SERVICE_PORT: str(port),
        _env.SERVICEACCOUNT_DIR: str(account),
        _env.OBJECTIVE: '[{"metric": "acc", "direction": "maximize"}]',
        _env.PARAMS: '{"lr": 0.1}',
    }


@pytest.fixture
def transport(trial_env: dict[str, str]) -> Iterator[ClusterTransport]:
    config = _env.transport_config(trial_env)
    assert isinstance(config, _env.ClusterConfig)
    made = ClusterTransport(config, FAST)
    yield made
    made.close(timeout=1.0)


def test_config_reads_the_namespace_from_the_service_account(trial_env: dict[str, str]) -> None:
    config = _env.transport_config(trial_env)
    assert isinstance(config, _env.ClusterConfig)
    assert config.namespace == NAMESPACE
    assert config.api_url == f"https://127.0.0.1:{trial_env[_env.SERVICE_PORT]}"
    assert config.objectives == [_env.Objective("acc", "maximize")]


def test_missing_service_host_is_a_clear_error(trial_env: dict[str, str]) -> None:
    del trial_env[_env.SERVICE_HOST]
    with pytest.raises(_env.ConfigurationError, match="KUBERNETES_SERVICE_HOST"):
        _env.transport_config(trial_env)


def test_report_patches_the_trial_status(
    api: tuple[FakeApiServer, int], transport: ClusterTransport
) -> None:
    fake, _ = api
    transport.record(0, {"acc": 0.5, "loss": 2.0})
    transport.record(1, {"acc": 0.75})
    transport.record(None, {"loss": 1.0})
    assert transport.flush(5.0)

    patch = fake.patches()[-1]
    assert patch.path == TRIAL_PATH + "/status"
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.headers["Authorization"] == "Bearer token-1"
    assert patch.body == {
        "status": {
            "values": {"acc": 0.75, "loss": 1.0},
            "intermediate": [
                {"step": 0, "values": {"acc": 0.5, "loss": 2.0}},
                {"step": 1, "values": {"acc": 0.75}},
            ],
            "lastStep": 1,
        }
    }
    assert fake.status() == patch.body["status"]
    assert fake.requests[0].method == "GET"  # the existing status is loaded first


def test_a_non_finite_value_is_sent_as_text_and_cleared_by_a_finite_one(
    api: tuple[FakeApiServer, int], transport: ClusterTransport
) -> None:
    """JSON has no NaN: the operator's verdict reads status.nonFiniteValues instead."""
    fake, _ = api
    transport.record(0, {"acc": 0.5})
    transport.record(1, {"acc": float("nan"), "loss": float("inf")})
    assert transport.flush(5.0)
    status = fake.status()
    assert status["values"] == {"acc": 0.5}
    assert status["nonFiniteValues"] == {"acc": "nan", "loss": "inf"}
    assert status["intermediate"] == [{"step": 0, "values": {"acc": 0.5}}]

    transport.record(2, {"acc": 0.7})
    assert transport.flush(5.0)
    assert fake.patches()[-1].body["status"]["nonFiniteValues"] == {"acc": None, "loss": "inf"}


@pytest.mark.parametrize("failure", [503, 500, 429, 409])
def test_transient_failures_are_retried_without_loss(
    api: tuple[FakeApiServer, int], transport: ClusterTransport, failure: int
) -> None:
    fake, _ = api
    fake.fail_patches = [failure] * 3
    for step in range(5):
        transport.record(step, {"acc": step / 10})
    assert transport.flush(5.0)
    assert len(fake.patches()) >= 4
    assert [p["step"] for p in fake.status()["intermediate"]] == [0, 1, 2, 3, 4]
    assert fake.status()["values"] == {"acc": 0.4}


def test_forbidden_is_said_once_and_values_are_kept(
    api: tuple[FakeApiServer, int],
    transport: ClusterTransport,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake, _ = api
    fake.forbid_patches = True
    transport.record(0, {"acc": 0.5})
    started = time.monotonic()
    assert not transport.flush(5.0)  # gives up at once rather than waiting out the timeout
    assert time.monotonic() - started < 2.0
    transport.record(1, {"acc": 0.6})
    assert not transport.flush(5.0)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert "403" in lines[0] and "not your trial" in lines[0]

    fake.forbid_patches = False
    transport.record(2, {"acc": 0.7})
    assert transport.flush(5.0)
    assert [p["step"] for p in fake.status()["intermediate"]] == [0, 1, 2]
    assert "delivered" in capsys.readouterr().err


def test_the_token_is_read_again_for_every_request(
    api: tuple[FakeApiServer, int], transport: ClusterTransport, trial_env: dict[str, str]
) -> None:
    fake, _ = api
    transport.record(0, {"acc": 0.5})
    assert transport.flush(5.0)
    fake.token = "token-2"
    Path(trial_env[_env.SERVICEACCOUNT_DIR], "token").write_text("token-2\n")
    transport.record(1, {"acc": 0.6})
    assert transport.flush(5.0)
    assert fake.patches()[-1].headers["Authorization"] == "Bearer token-2"


def test_a_restarted_runner_adds_to_earlier_reports(
    api: tuple[FakeApiServer, int], transport: ClusterTransport
) -> None:
    fake, _ = api
    fake.trial["status"] = {
        "phase": "Running",
        "values": {"acc": 0.4, "loss": 3.0},
        "intermediate": [{"step": 0, "values": {"acc": 0.3}}, {"step": 1, "values": {"acc": 0.4}}],
        "lastStep": 1,
    }
    transport.record(1, {"loss": 2.5})
    transport.record(2, {"acc": 0.5})
    assert transport.flush(5.0)
    status = fake.status()
    assert status["phase"] == "Running"  # not ours: left alone
    assert status["values"] == {"acc": 0.5, "loss": 2.5}
    assert status["intermediate"] == [
        {"step": 0, "values": {"acc": 0.3}},
        {"step": 1, "values": {"acc": 0.4, "loss": 2.5}},
        {"step": 2, "values": {"acc": 0.5}},
    ]
    assert status["lastStep"] == 2


def test_should_stop_follows_the_spec_and_is_cached(
    api: tuple[FakeApiServer, int], transport: ClusterTransport
) -> None:
    fake, _ = api
    assert transport.should_stop() is False
    fake.trial["spec"]["stop"] = True
    gets = sum(r.method == "GET" for r in fake.requests)
    assert transport.should_stop() is False  # cached
    assert sum(r.method == "GET" for r in fake.requests) == gets
    time.sleep(FAST.stop_cache_seconds + 0.05)
    assert transport.should_stop() is True


def test_should_stop_keeps_the_last_answer_when_the_api_fails(
    api: tuple[FakeApiServer, int], transport: ClusterTransport
) -> None:
    fake, _ = api
    fake.trial["spec"]["stop"] = True
    assert transport.should_stop() is True
    fake.token = "someone-else"  # every request now answers 401
    time.sleep(FAST.stop_cache_seconds + 0.05)
    assert transport.should_stop() is True


def test_an_unreachable_api_never_raises(trial_env: dict[str, str]) -> None:
    trial_env[_env.SERVICE_PORT] = "1"  # nothing listens there
    config = _env.transport_config(trial_env)
    assert isinstance(config, _env.ClusterConfig)
    transport = ClusterTransport(config, FAST)
    try:
        started = time.monotonic()
        transport.record(0, {"acc": 0.5})
        assert time.monotonic() - started < 0.5
        assert transport.should_stop() is False
        assert transport.flush(0.3) is False
    finally:
        transport.close(0.0)


def child_env(trial_env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    return {**base, **trial_env}


def test_reports_are_delivered_at_exit_despite_failures(
    api: tuple[FakeApiServer, int], trial_env: dict[str, str]
) -> None:
    fake, _ = api
    fake.fail_patches = [503, 503]
    code = """
        from kubetune_runner import report
        report(step=1, acc=0.5)
        report(step=2, acc=0.6)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=child_env(trial_env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert fake.status()["intermediate"] == [
        {"step": 1, "values": {"acc": 0.5}},
        {"step": 2, "values": {"acc": 0.6}},
    ]


def test_the_wrapper_reports_and_stops_in_a_cluster(
    api: tuple[FakeApiServer, int], trial_env: dict[str, str]
) -> None:
    fake, _ = api
    program = "import time; print('epoch=1 acc=0.5', flush=True); time.sleep(60)"
    wrapper = subprocess.Popen(
        [*WRAPPER, "--stop-poll-seconds=0.2", "--", sys.executable, "-c", program],
        env=child_env(trial_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert wrapper.stdout is not None
        assert wrapper.stdout.readline() == b"epoch=1 acc=0.5\n"
        with fake.lock:
            fake.trial["spec"]["stop"] = True
        assert wrapper.wait(timeout=15) == 0
    finally:
        wrapper.kill()
    assert fake.status()["intermediate"] == [{"step": 1, "values": {"acc": 0.5}}]
