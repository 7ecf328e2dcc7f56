"""Turn the Grafana dashboard's queries into the PromQL that Grafana would send.

A panel's `expr` is not PromQL until Grafana replaces its template variables: the
dashboard's own (`$namespace`, `$study`) and Grafana's built-ins (`$__rate_interval`,
`$__interval`, `$__range`...). These helpers do what Grafana does for one selected value
of each variable, so the tests can run every panel's query through a real Prometheus.
Variable query definitions (`label_values(selector, label)`) are Grafana functions, not
PromQL; `label_values` parses them into the series API call Grafana makes instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_VARIABLE = re.compile(
    r"\$\{(?P<braced>\w+)(?::\w+)?\}|\[\[(?P<bracketed>\w+)(?::\w+)?\]\]|\$(?P<plain>\w+)"
)
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<selector>.+),\s*)?(?P<label>\w+)\s*\)\s*$")


class UnknownVariable(AssertionError):
    """A query names a template variable that neither the dashboard nor Grafana defines."""


@dataclass(frozen=True)
class PanelTarget:
    """One query of one panel, as the dashboard stores it."""

    panel: str
    ref_id: str
    expr: str

    def __str__(self) -> str:
        return f"panel {self.panel!r} target {self.ref_id}"


@dataclass(frozen=True)
class TimeRange:
    """The dashboard's time range and the step Grafana picked for it, in seconds."""

    start: float
    end: float
    interval_seconds: float
    scrape_interval_seconds: float

    @property
    def rate_interval_seconds(self) -> float:
        """Grafana's `$__rate_interval`: max(`$__interval` + scrape, 4 x scrape)."""
        return max(
            self.interval_seconds + self.scrape_interval_seconds,
            4 * self.scrape_interval_seconds,
        )

    def builtins(self) -> dict[str, str]:
        """Grafana's built-in variables for this range, as Grafana formats them."""
        range_seconds = math.ceil(self.end - self.start)
        return {
            "__interval": _duration(self.interval_seconds),
            "__interval_ms": str(int(self.interval_seconds * 1000)),
            "__rate_interval": _duration(self.rate_interval_seconds),
            "__range": f"{range_seconds}s",
            "__range_s": str(range_seconds),
            "__range_ms": str(range_seconds * 1000),
        }


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{math.ceil(seconds)}s"


def panel_targets(dashboard: Mapping[str, Any]) -> Iterator[PanelTarget]:
    """Every query of every panel, including the panels inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield from panel_targets(panel)
        for target in panel.get("targets", []):
            if "expr" in target:
                yield PanelTarget(
                    panel=panel["title"],
                    ref_id=target["refId"],
                    expr=target["expr"],
                )


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with every `$var`, `${var}`, `${var:format}` and `[[var]]` replaced.

    The values are used as given: for a single selected value of a Prometheus variable
    Grafana inserts the value regex-escaped, which for Kubernetes names is the value itself.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bracketed") or match.group("plain")
        if name not in values:
            raise UnknownVariable(f"{expr!r} uses ${name}, which is not defined")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def label_values(definition: str) -> tuple[str | None, str]:
    """`label_values(selector, label)` -> (selector, label); the selector is optional."""
    match = _LABEL_VALUES.match(definition)
    if match is None:
        raise ValueError(f"{definition!r} is not label_values(selector, label)")
    return match.group("selector"), match.group("label")
