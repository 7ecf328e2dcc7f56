"""Where a completion's wait for its successor goes: the operator's own histograms, diffed.

``benchmarks.scale`` reads the operator's ``/metrics`` before and after the completion waves
and the API server's ``apiserver_request_total`` likewise; this module turns the two
snapshots into tables: time in the work queue by lane, each reconcile step, the reconcile's
CPU, each API round trip by verb and resource (count, mean, p99 from the buckets), and
every client's requests per completion. Pure text in, text out.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$"
)
LABEL = re.compile(r'(\w+)="([^"]*)"')

PHASES = (
    ("kubetune_queue_wait_seconds", "lane", "queue wait"),
    ("kubetune_reconcile_step_duration_seconds", "step", "reconcile step"),
    ("kubetune_reconcile_cpu_seconds", "", "reconcile CPU (worker thread)"),
    ("kubetune_reconcile_duration_seconds", "", "reconcile, wall"),
    ("kubetune_api_request_duration_seconds", "verb,resource", "API round trip"),
)
"""The histograms shown, the labels that name a row, and what the row is."""


@dataclass
class Histogram:
    """One labelled histogram series: cumulative bucket counts, sum and count."""

    buckets: dict[float, float] = field(default_factory=dict)
    total: float = 0.0
    count: float = 0.0

    def minus(self, earlier: Histogram | None) -> Histogram:
        if earlier is None:
            return self
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.total - earlier.total,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float:
        """The upper bound of the bucket holding the q-quantile (as Prometheus would bound it)."""
        if self.count <= 0:
            return math.nan
        rank = q * self.count
        for le in sorted(self.buckets):
            if self.buckets[le] >= rank:
                return le
        return math.inf


def histograms(text: str, name: str, labels: tuple[str, ...]) -> dict[tuple[str, ...], Histogram]:
    """The series of one histogram in a Prometheus text, keyed by the values of ``labels``."""
    series: dict[tuple[str, ...], Histogram] = defaultdict(Histogram)
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match is None or not match["name"].startswith(name):
            continue
        suffix = match["name"][len(name) :]
        found = dict(LABEL.findall(match["labels"] or ""))
        key = tuple(found.get(label, "") for label in labels)
        value = float(match["value"])
        if suffix == "_bucket":
            series[key].buckets[float(found["le"])] = value
        elif suffix == "_sum":
            series[key].total = value
        elif suffix == "_count":
            series[key].count = value
    return dict(series)


def phase_table(before: str, after: str, completions: int) -> str:
    """Markdown rows: what, count per completion, mean and p99 (bucket bound) in ms."""
    lines = [
        "| phase | per completion | mean | p99 (bucket bound) |",
        "|---|---|---|---|",
    ]
    for name, label_names, what in PHASES:
        labels = tuple(label_names.split(",")) if label_names else ()
        earlier = histograms(before, name, labels)
        for key, later in sorted(histograms(after, name, labels).items()):
            h = later.minus(earlier.get(key))
            if h.count <= 0:
                continue
            row = f"{what} {' '.join(key)}".strip()
            lines.append(
                f"| {row} | {h.count / max(completions, 1):.2f} | {1000 * h.total / h.count:.0f} ms"
                f" | {_ms(h.quantile(0.99))} |"
            )
    return "\n".join(lines)


def requests_table(
    before: Counter[tuple[str, str]], after: Counter[tuple[str, str]], completions: int
) -> str:
    """The API server's requests (every client) per completion, by resource and verb."""
    diff = Counter({k: v - before.get(k, 0) for k, v in after.items()})
    lines = ["| API server requests by resource, verb | per completion |", "|---|---|"]
    for (resource, verb), n in diff.most_common():
        if n <= 0 or verb == "WATCH" or n < completions / 20:
            continue
        lines.append(f"| {resource} {verb} | {n / max(completions, 1):.2f} |")
    total = sum(n for (_, verb), n in diff.items() if verb != "WATCH" and n > 0)
    lines.append(f"| all (but watches) | {total / max(completions, 1):.2f} |")
    return "\n".join(lines)


def _ms(seconds: float) -> str:
    if math.isnan(seconds):
        return ""
    if math.isinf(seconds):
        return "> last bucket"
    return f"≤ {1000 * seconds:.0f} ms"
