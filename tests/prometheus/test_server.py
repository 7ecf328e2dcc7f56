"""The Prometheus harness refuses what the dashboard test must catch.

Marked `integration` because it runs the built Prometheus binary (no cluster needed): it
scrapes the operator's metrics server in this process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from kubetune import metrics
from kubetune.api.study import StudyPhase
from tests.prometheus.server import PrometheusQueryError, PrometheusServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A Prometheus that has scraped this process's operator metrics a few times."""
    server = metrics.MetricsServer("127.0.0.1", 0, lambda: True)
    server.start()
    metrics.observe_study("harness", "probe", StudyPhase.RUNNING, {}, {"loss": 1.0})
    prometheus = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"), [f"127.0.0.1:{server.port}"]
    )
    try:
        prometheus.start().wait_until_scraped()
        prometheus.wait_for_samples('kubetune_study_best_value{study="probe"}', 2)
        yield prometheus
    finally:
        prometheus.stop()
        server.stop()
        metrics.forget_study("harness", "probe")


def test_a_valid_query_returns_the_scraped_value(scraped: PrometheusServer) -> None:
    result = scraped.query('kubetune_study_best_value{study="probe"}', at=time.time())
    assert [float(series["value"][1]) for series in result] == [1.0]
    assert scraped.targets_health() == ["up"]


def test_a_syntax_error_is_refused_with_the_reason(scraped: PrometheusServer) -> None:
    with pytest.raises(PrometheusQueryError, match="parse error"):
        scraped.query("sum(kubetune_trials{", at=time.time())


def test_rate_over_a_gauge_is_refused(scraped: PrometheusServer) -> None:
    with pytest.raises(PrometheusQueryError, match="might not be a counter"):
        scraped.query_range("rate(kubetune_trials[1m])", time.time() - 10, time.time(), 1)
