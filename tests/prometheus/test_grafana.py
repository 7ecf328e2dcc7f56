"""The Grafana substitution the Prometheus tests rely on does what Grafana does."""

from __future__ import annotations

import json

import pytest

from tests.prometheus.grafana import (
    TimeRange,
    UnknownVariable,
    label_values,
    panel_targets,
    substitute,
)
from tests.prometheus.server import scrape_config
from tests.tools.chart import CHART


def test_every_variable_spelling_is_replaced() -> None:
    values = {"namespace": "ns-1", "study": "s", "__rate_interval": "4s"}
    expr = 'rate(x{namespace=~"$namespace", study=~"${study}", a="[[study]]"}[$__rate_interval])'
    assert substitute(expr, values) == 'rate(x{namespace=~"ns-1", study=~"s", a="s"}[4s])'
    assert substitute("${study:regex}", values) == "s"


def test_an_unknown_variable_fails_with_its_name() -> None:
    with pytest.raises(UnknownVariable, match=r"\$nope"):
        substitute('sum(x{a=~"$nope"})', {"namespace": "n"})


def test_builtins_follow_grafana_rules() -> None:
    builtins = TimeRange(
        start=100.0, end=160.5, interval_seconds=1, scrape_interval_seconds=1
    ).builtins()
    assert builtins["__rate_interval"] == "4s"  # 4 x scrape interval wins over interval + scrape
    assert builtins["__range"] == "61s"
    assert builtins["__interval_ms"] == "1000"
    wide = TimeRange(start=0, end=3600, interval_seconds=15, scrape_interval_seconds=1)
    assert wide.builtins()["__rate_interval"] == "16s"


def test_label_values_parses_both_forms() -> None:
    assert label_values('label_values(up{a=~"$b"}, study)') == ('up{a=~"$b"}', "study")
    assert label_values("label_values(namespace)") == (None, "namespace")
    with pytest.raises(ValueError, match="is not label_values"):
        label_values("query_result(up)")


def test_panel_targets_include_collapsed_rows() -> None:
    dashboard = {
        "panels": [
            {"type": "stat", "title": "A", "targets": [{"refId": "A", "expr": "up"}]},
            {
                "type": "row",
                "title": "R",
                "panels": [
                    {"type": "timeseries", "title": "B", "targets": [{"refId": "X", "expr": "1"}]}
                ],
            },
        ]
    }
    assert [(t.panel, t.ref_id) for t in panel_targets(dashboard)] == [("A", "A"), ("B", "X")]


def test_the_shipped_dashboard_has_targets_to_check() -> None:
    dashboard = json.loads((CHART / "dashboards" / "kubetune.json").read_text())
    assert len(list(panel_targets(dashboard))) >= 15


def test_scrape_config_is_json_yaml_with_the_targets() -> None:
    config = json.loads(scrape_config(["127.0.0.1:9"], interval_seconds=1))
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9"]}]
    assert config["global"]["scrape_interval"] == "1s"
