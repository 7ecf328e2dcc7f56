"""Every query of the shipped Grafana dashboard works against a real Prometheus.

`tests/unit/helm/test_dashboard_metrics.py` checks that the dashboard names exported
series and labels; only Prometheus can say whether the PromQL is valid and whether it
returns anything. Here a real Prometheus (built by `tests.prometheus`) scrapes a real
operator every second while it runs a small GPU study, then every panel target, with the
template variables replaced as Grafana would, is evaluated as an instant query at the end
and as a range query over the study: no error, no warning, and at least one finite value.
No panel is exempt: the study is shaped so every series has data (GPU trials for the GPU
panels, enough trials that several finish). Pruning is not triggered, so the pruned rate
is a real, finite 0, which is the data that panel shows for such a study. A second,
constrained two-objective study runs beside it for the hypervolume panel (a study has a
best value or a front, never both); both are selected in the study variable, as a user
selecting two studies in Grafana would.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from kubernetes import client

from tests.integration.operator_fixtures import (
    SCRIPT,
    create_study,
    study_manifest,
    wait_for_phase,
)
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
FRONT = "graphed-front"
TWO_GOALS = SCRIPT.parent / "two_goals.py"
STEP_SECONDS = 1.0
"""Range-query step, i.e. Grafana's `$__interval` for this short range."""


def _finite_values(result: list[dict[str, Any]]) -> list[float]:
    samples = [series["value"] for series in result if "value" in series]
    samples += [point for series in result for point in series.get("values", [])]
    return [float(value) for _, value in samples if math.isfinite(float(value))]


def _front_study() -> dict[str, Any]:
    """Two objectives (loss = x², cost = (x - 1)²) under a constraint, with nsga2."""
    manifest = study_manifest(FRONT, max_trials=4, parallel=2, algorithm="nsga2")
    spec = manifest["spec"]
    del spec["objective"]
    spec["objectives"] = [
        {"metric": "loss", "direction": "minimize"},
        {"metric": "cost", "direction": "minimize"},
    ]
    spec["constraints"] = [{"metric": "cost", "max": 8.0}]
    spec["algorithm"]["settings"] = {"populationSize": 2}
    command = spec["trialTemplate"]["job"]["template"]["spec"]["containers"][0]["command"]
    command[command.index(str(SCRIPT))] = str(TWO_GOALS)
    return manifest


def _check_variables(
    server: PrometheusServer,
    dashboard: dict[str, Any],
    values: dict[str, str],
    selected: dict[str, list[str]],
) -> None:
    """Each `label_values` variable offers every value the test selects in it."""
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        selector, label = label_values(substitute(variable["definition"], values))
        params = {"match[]": selector} if selector else {}
        offered = server.api(f"label/{label}/values", **params)
        for value in selected[variable["name"]]:
            assert value in offered, (variable["name"], offered)


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
    create_study(custom, namespace, _front_study())
    wait_for_phase(custom, namespace, STUDY, phases=("Succeeded",))
    wait_for_phase(custom, namespace, FRONT, phases=("Succeeded",))
    # The final state is in the TSDB, and the GPU counter (born with the first finished
    # trial) has the two samples that rate() and increase() need.
    server.wait_for_result(
        f'kubetune_trials{{namespace="{namespace}", study="{STUDY}", phase="Succeeded"}} == 6'
    )
    server.wait_for_samples(f'kubetune_gpu_seconds_total{{study="{STUDY}"}}', 2)
    server.wait_for_result(
        f'kubetune_trials{{namespace="{namespace}", study="{FRONT}", phase="Succeeded"}} == 4'
    )
    server.wait_for_samples(f'kubetune_study_hypervolume{{study="{FRONT}"}}', 2)
    end = time.time()

    dashboard = json.loads(DASHBOARD.read_text())
    span = TimeRange(start, end, STEP_SECONDS, SCRAPE_INTERVAL_SECONDS)
    # Grafana's regex format of a multi-value selection: (a|b).
    values = {"namespace": namespace, "study": f"({STUDY}|{FRONT})", "datasource": "prometheus"}
    values |= span.builtins()
    _check_variables(server, dashboard, values, {"namespace": [namespace], "study": [STUDY, FRONT]})

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
