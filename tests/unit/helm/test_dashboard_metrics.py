"""The Grafana dashboard queries only series the operator exports, with their real labels.

The exported names come from `kubetune.metrics.REGISTRY` and prometheus-client's rules:
a counter `x` is scraped as `x_total`, a histogram as `x_bucket` (with `le`), `x_sum`
and `x_count`, a gauge as `x`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from kubetune import metrics
from tests.tools.chart import CHART

DASHBOARD = CHART / "dashboards" / "kubetune.json"
SELECTOR = re.compile(r"\b(kubetune_[a-zA-Z0-9_]+)\s*(\{[^}]*\})?")
LABEL_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)")


def exported_series() -> dict[str, set[str]]:
    """Series name → its label names, for everything the operator can export."""
    series: dict[str, set[str]] = {}
    for collector in list(metrics.REGISTRY._collector_to_names):
        labels = set(getattr(collector, "_labelnames", ()))
        name = collector._name  # type: ignore[attr-defined]
        kind = collector._type  # type: ignore[attr-defined]
        if kind == "counter":
            series[f"{name}_total"] = labels
        elif kind == "histogram":
            series[f"{name}_bucket"] = labels | {"le"}
            series[f"{name}_sum"] = labels
            series[f"{name}_count"] = labels
        else:
            series[name] = labels
    return series


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "datasource":  # the data source picker's query is a plugin id
            return
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def test_exported_series_follow_the_suffix_rules() -> None:
    series = exported_series()
    assert "kubetune_trials_created_total" in series
    assert "kubetune_suggestion_duration_seconds_bucket" in series
    assert series["kubetune_trials"] == {"namespace", "study", "phase"}


def test_every_dashboard_query_uses_exported_series_and_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    series = exported_series()
    queries = list(expressions(dashboard))
    assert len(queries) >= 15
    used = set()
    for query in queries:
        found = SELECTOR.findall(query)
        assert found, f"no kubetune series in {query!r}"
        for name, matchers in found:
            assert name in series, f"{name} (in {query!r}) is not exported by the operator"
            used.add(name)
            for label, _ in LABEL_MATCHER.findall(matchers or ""):
                assert label in series[name], f"{name} has no label {label!r} ({query!r})"
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", query):
            for label in filter(None, (part.strip() for part in grouping.split(","))):
                assert any(label in series[name] for name, _ in found), (label, query)
    # Every metric family the operator exports is on the dashboard in some form.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in series}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families == shown, f"not on the dashboard: {sorted(families - shown)}"


def test_dashboard_has_the_study_picker_and_promised_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "study"} <= variables
    titles = {panel["title"] for panel in dashboard["panels"]}
    for title in (
        "Active studies",
        "Trials by phase",
        "Best value per study",
        "Suggestion latency",
        "Reconcile errors per minute",
        "GPU-seconds used (range)",
    ):
        assert title in titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
