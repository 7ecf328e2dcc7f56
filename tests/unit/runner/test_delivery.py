"""A trial is never scored from a partial report: delivery outlasts outages, the final values
go to the termination message, and a delivery that truly failed says so with its exit code.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from kubetune_runner import _env, _termination, cli
from kubetune_runner._cluster import ClusterSettings, ClusterTransport
from tests.unit.runner.test_cluster_transport import (
    WRAPPER,
    FakeApiServer,
    child_env,
    make_handler,
)

DEFAULTS_BUT_QUICK_REQUESTS = ClusterSettings(request_timeout_seconds=2.0)
"""The shipped retry backoff (capped at 1 s): what must resume delivery once the API answers."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LateServer:
    """An API server that refuses connections until ``start()`` (an API server restarting)."""

    def __init__(self, certificate: tuple[Path, Path], port: int) -> None:
        self.fake = FakeApiServer()
        self.certificate = certificate
        self.port = port
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), make_handler(self.fake))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.certificate)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        self.server = server

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def late(
    certificate: tuple[Path, Path], trial_env: dict[str, str]
) -> Iterator[tuple[LateServer, dict[str, str]]]:
    port = _free_port()
    server = LateServer(certificate, port)
    yield server, {**trial_env, _env.SERVICE_PORT: str(port)}
    server.stop()


def test_reports_made_while_the_api_refuses_are_delivered_once_it_answers(
    late: tuple[LateServer, dict[str, str]],
) -> None:
    server, environ = late
    config = _env.transport_config(environ)
    assert isinstance(config, _env.ClusterConfig)
    transport = ClusterTransport(config, DEFAULTS_BUT_QUICK_REQUESTS)
    try:
        for step in range(1, 21):
            transport.record(step, {"acc": step / 100})
        assert transport.flush(1.5) is False  # refused meanwhile: several retries failed
        server.start()
        assert transport.flush(30.0) is True
    finally:
        transport.close(0.0)
    status = server.fake.status()
    assert status["values"] == {"acc": 0.2}
    assert status["lastStep"] == 20


def test_the_delivery_timeout_is_read_from_the_environment(trial_env: dict[str, str]) -> None:
    config = _env.transport_config({**trial_env, _env.DELIVERY_TIMEOUT: "42"})
    assert isinstance(config, _env.ClusterConfig)
    assert config.delivery_timeout_seconds == 42.0
    default = _env.transport_config(trial_env)
    assert isinstance(default, _env.ClusterConfig)
    assert default.delivery_timeout_seconds == _env.DEFAULT_DELIVERY_TIMEOUT_SECONDS


@pytest.mark.parametrize("raw", ["soon", "-1", "inf", "nan"])
def test_a_bad_delivery_timeout_names_the_variable(trial_env: dict[str, str], raw: str) -> None:
    with pytest.raises(_env.ConfigurationError, match=_env.DELIVERY_TIMEOUT):
        _env.transport_config({**trial_env, _env.DELIVERY_TIMEOUT: raw})


def _unreachable(environ: dict[str, str], message: Path) -> dict[str, str]:
    return {
        **environ,
        _env.SERVICE_PORT: str(_free_port()),  # nothing listens: connection refused
        _env.DELIVERY_TIMEOUT: "1",
        _env.TERMINATION_MESSAGE_PATH: str(message),
    }


def _wrap(environ: dict[str, str], program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WRAPPER, "--", sys.executable, "-c", program],
        env=child_env(environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_final_values_are_handed_over_in_the_termination_message(
    trial_env: dict[str, str], tmp_path: Path
) -> None:
    message = tmp_path / "termination-log"
    result = _wrap(
        _unreachable(trial_env, message), "print('epoch=10 acc=0.1'); print('epoch=20 acc=0.2')"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(message.read_text())
    assert report[_termination.MARKER] == _termination.FORMAT_VERSION
    assert report["values"] == {"acc": 0.2}
    assert report["lastStep"] == 20
    assert report["delivered"] is False


def test_a_delivered_report_is_marked_so_in_the_termination_message(
    api: tuple[FakeApiServer, int], trial_env: dict[str, str], tmp_path: Path
) -> None:
    message = tmp_path / "termination-log"
    environ = {**trial_env, _env.TERMINATION_MESSAGE_PATH: str(message)}
    result = _wrap(environ, "print('epoch=3 acc=0.7')")
    assert result.returncode == 0, result.stderr
    assert json.loads(message.read_text())["delivered"] is True
    assert api[0].status()["values"] == {"acc": 0.7}


def test_undeliverable_reports_exit_with_their_own_code(
    trial_env: dict[str, str], tmp_path: Path
) -> None:
    nowhere = tmp_path / "no-such-directory" / "termination-log"
    result = _wrap(_unreachable(trial_env, nowhere), "print('epoch=1 acc=0.5')")
    assert result.returncode == cli.EXIT_UNDELIVERED
    assert "not delivered" in result.stderr


def test_a_failed_program_leaves_the_message_to_its_log(
    trial_env: dict[str, str], tmp_path: Path
) -> None:
    message = tmp_path / "termination-log"
    result = _wrap(_unreachable(trial_env, message), "print('acc=0.5'); raise SystemExit(3)")
    assert result.returncode == 3
    assert not message.exists()  # FallbackToLogsOnError then shows the end of the log


@pytest.mark.parametrize(("tail", "written"), [("", True), ("raise ValueError('boom')", False)])
def test_a_program_reporting_itself_hands_over_at_exit_unless_it_crashed(
    trial_env: dict[str, str], tmp_path: Path, tail: str, written: bool
) -> None:
    message = tmp_path / "termination-log"
    code = f"""
        from kubetune_runner import report
        report(step=5, acc=0.9)
        {tail}
    """
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=child_env(_unreachable(trial_env, message)),
        capture_output=True,
        timeout=60,
    )
    assert message.exists() is written
    if written:
        assert json.loads(message.read_text())["values"] == {"acc": 0.9}


def test_the_message_fits_what_the_kubelet_keeps_and_keeps_the_objectives() -> None:
    values = {f"metric_{i:04d}": i / 7 for i in range(1000)}
    values["zz_objective"] = 0.5
    text = _termination.render(values, {}, 9, 1000, False, ["zz_objective"])
    assert len(text.encode()) <= _termination.MAX_BYTES
    report = json.loads(text)
    assert report["values"]["zz_objective"] == 0.5
    assert report["truncated"] is True
    assert report["lastStep"] == 9


def test_a_small_message_is_whole() -> None:
    report = json.loads(_termination.render({"acc": 0.5}, {"loss": "nan"}, None, 2, True))
    assert report["values"] == {"acc": 0.5}
    assert report["nonFiniteValues"] == {"loss": "nan"}
    assert "truncated" not in report and "lastStep" not in report
