"""Every query of the shipped Grafana dashboard works against a real Prometheus.

`tests/unit/helm/test_dashboard_metrics.py` checks that the dashboard names exported
series and labels; only Prometheus can say whether the PromQL is valid and whether it
returns anything. Here a real Prometheus (built by `tests.prometheus`) scrapes a real
operator every second while it runs a small GPU study, then every panel target, with the
template variables replaced as Grafana would, is evaluated as an instant query at the end
and as a range query over the study: no error, no warning, and at least one finite value.
No panel is exempt: the study is shaped so every series has data (GPU trials for the GPU
panels, enough trials that several finish). Pruning is not triggered, so the pruned rate
is a real, finite 0, which is the data that panel shows for such a study.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from kubernetes import client

from tests.integration.operator_fixtures import create_study, study_manifest, wait_for_phase
from tests.prometheus.fixtures import prometheus
from tests.prometheus.grafana import TimeRange, label_values, panel_targets, substitute
from tests.prometheus.server import (
    SCRAPE_INTERVAL_SECONDS,
    PrometheusQueryError,
    PrometheusServer,
)
from tests.tools.chart import CHART

__all__ = ["prometheus"]  # the fixture, imported for pytest

pytestmark = pytest.mark.integration

DASHBOARD = CHART / "dashboards" / "kubetune.json"
STUDY = "graphed"
STEP_SECONDS = 1.0
"""Range-query step, i.e. Grafana's `$__interval` for this short range."""


def _finite_values(result: list[dict[str, Any]]) -> list[float]:
    samples = [series["value"] for series in result if "value" in series]
    samples += [point for series in result for point in series.get("values", [])]
    return [float(value) for _, value in samples if math.isfinite(float(value))]


def _check_variables(
    server: PrometheusServer, dashboard: dict[str, Any], values: dict[str, str]
) -> None:
    """Each `label_values` variable offers the value the test selects in it."""
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        selector, label = label_values(substitute(variable["definition"], values))
        params = {"match[]": selector} if selector else {}
        offered = server.api(f"label/{label}/values", **params)
        assert values[variable["name"]] in offered, (variable["name"], offered)


def test_every_dashboard_query_returns_data(
    operator, prometheus, custom: client.CustomObjectsApi, namespace: str
) -> None:
    handle = operator()
    server = prometheus([f"127.0.0.1:{handle.metrics_port}"])
    start = time.time()
    create_study(
        custom,
        namespace,
        study_manifest(STUDY, max_trials=6, parallel=2, gpus=1, script_args=["--seconds", "1"]),
    )
    wait_for_phase(custom, namespace, STUDY, phases=("Succeeded",))
    # The final state is in the TSDB, and the GPU counter (born with the first finished
    # trial) has the two samples that rate() and increase() need.
    server.wait_for_result(
        f'kubetune_trials{{namespace="{namespace}", study="{STUDY}", phase="Succeeded"}} == 6'
    )
    server.wait_for_samples(f'kubetune_gpu_seconds_total{{study="{STUDY}"}}', 2)
    end = time.time()

    dashboard = json.loads(DASHBOARD.read_text())
    span = TimeRange(start, end, STEP_SECONDS, SCRAPE_INTERVAL_SECONDS)
    values = {"namespace": namespace, "study": STUDY, "datasource": "prometheus"}
    values |= span.builtins()
    _check_variables(server, dashboard, values)

    targets = list(panel_targets(dashboard))
    assert len(targets) >= 15
    problems = []
    for target in targets:
        expr = substitute(target.expr, values)
        try:
            instant = server.query(expr, at=end)
            over_range = server.query_range(expr, start, end, STEP_SECONDS)
        except PrometheusQueryError as error:
            problems.append(f"{target}: refused: {error}")
            continue
        if not _finite_values(instant) or not _finite_values(over_range):
            problems.append(f"{target}: no data: {expr}\n  instant={instant}\n  range={over_range}")
    assert not problems, "dashboard queries that fail:\n" + "\n".join(problems)
