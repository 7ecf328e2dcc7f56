"""pytest fixture giving a test a real Prometheus that scrapes the targets it names.

Import it where needed (`from tests.prometheus.fixtures import prometheus`). `prometheus(
["127.0.0.1:PORT"])` builds the binary if the cache lacks it, starts a server in the test's
temporary directory scraping those targets every second, waits until every target has been
scraped, and returns the `PrometheusServer`. Servers are stopped at teardown; the log of one
that the test saw fail is printed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tests.prometheus.server import PrometheusServer

__all__ = ["prometheus"]


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[Sequence[str]], PrometheusServer]]:
    started: list[PrometheusServer] = []

    def start(targets: Sequence[str]) -> PrometheusServer:
        server = PrometheusServer(tmp_path / f"prometheus-{len(started)}", targets)
        started.append(server)
        server.start()
        server.wait_until_scraped()
        return server

    yield start
    for server in started:
        server.stop()
        log = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        if "level=ERROR" in log:
            print(f"--- {server.log_path} ---\n{log[-5000:]}")
