"""``kubetune operator`` refuses to start with a clear message when its port is taken."""

from __future__ import annotations

import socket

import pytest

from kubetune import cli


def test_a_taken_metrics_port_names_the_port_and_how_to_change_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = cli.main(["operator", "--metrics-host", "127.0.0.1", "--metrics-port", str(port)])
    error = capsys.readouterr().err
    assert code != 0
    assert f"metrics port {port} on 127.0.0.1 is already in use" in error
    assert "--metrics-port" in error and "KUBETUNE_METRICS_PORT" in error
    assert "Traceback" not in error
