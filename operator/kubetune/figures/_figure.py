"""The shapes a report is made of: plotly figures as plain JSON, tables, and how to thin data.

A ``Figure`` is exactly what plotly.js draws (``data`` traces and a ``layout``), built from
dicts and lists only, so building one needs no plotting library and a test can read it. Big
studies are thinned here, once, the same way for every plot: ``thin`` keeps the best trials
and an even spread of the rest, and the plot says so in its ``note``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Json = Any
"""A JSON-able value: dicts, lists, strings, finite numbers, booleans and None."""

T = TypeVar("T")

PHASE_COLOURS = {
    "Succeeded": "#2a9d8f",
    "Pruned": "#e9c46a",
    "Failed": "#e63946",
    "Stopped": "#8d99ae",
    "Running": "#457b9d",
    "Pending": "#adb5bd",
}
"""One colour per trial phase, used by every plot that colours trials by phase."""

ACCENT = "#e76f51"
"""The colour of what a plot wants you to see first: the best-so-far line, the Pareto front."""

MUTED = "#9aa5b1"
"""The colour of context: all trials behind a highlighted few."""

COLOUR_SCALE = "Viridis"
"""The continuous scale for losses and trial order (reversed where smaller is better)."""


@dataclass(frozen=True)
class Figure:
    """One plot: plotly.js ``data`` and ``layout``, and a note on what it leaves out."""

    key: str
    """Stable name of the plot (``history``, ``slice``...), for tests, links and the dashboard."""
    title: str
    data: list[Json]
    layout: dict[str, Json]
    note: str | None = None
    """Shown under the title: why the plot is empty, or how it was sampled."""

    def to_json(self) -> dict[str, Json]:
        return {
            "key": self.key,
            "title": self.title,
            "note": self.note,
            "data": self.data,
            "layout": self.layout,
        }


@dataclass(frozen=True)
class Table:
    """Rows of text for people (trial failures), drawn as an HTML table."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[list[str]] = field(default_factory=list)
    note: str | None = None

    def to_json(self) -> dict[str, Json]:
        return {
            "key": self.key,
            "title": self.title,
            "note": self.note,
            "columns": list(self.columns),
            "rows": self.rows,
        }


def empty_figure(key: str, title: str, why: str) -> Figure:
    """A plot with nothing to draw that says why in its middle, instead of leaving a gap."""
    annotation = {
        "text": why,
        "showarrow": False,
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "font": {"size": 14, "color": "#6c757d"},
    }
    hidden = {"visible": False}
    return Figure(
        key,
        title,
        [],
        {"annotations": [annotation], "xaxis": hidden, "yaxis": hidden, "height": 220},
        why,
    )


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (JSON has no NaN or infinity)."""
    return value if value is not None and math.isfinite(value) else None


LOG_SPREAD = 100.0
"""A value axis turns logarithmic when all its values are positive and the largest is this
many times the smallest: otherwise a few bad trials squash the good ones into one line."""


def value_axis(values: Sequence[float | None], title: str) -> dict[str, Json]:
    """A y axis for objective values: logarithmic when they span orders of magnitude."""
    axis: dict[str, Json] = {"title": {"text": title}}
    numbers = [v for v in values if v is not None]
    if numbers and min(numbers) > 0 and max(numbers) >= LOG_SPREAD * min(numbers):
        axis["type"] = "log"
    return axis


@dataclass(frozen=True)
class Thinned(Generic[T]):
    """What ``thin`` kept of ``total`` items, and the note that says so."""

    kept: list[T]
    total: int
    best: int | None = None
    """How many of ``kept`` are the best ones; None when ``kept`` is an even spread only."""

    @property
    def note(self) -> str | None:
        if len(self.kept) == self.total:
            return None
        shown = f"{len(self.kept):,} of {self.total:,} trials shown"
        if self.best is None:
            return f"{shown}: an even spread in trial order"
        return f"{shown}: the best {self.best:,} always, and an even spread of the rest"


BEST_KEPT = 0.2
"""Share of a thinned plot's points given to the best trials; the rest is an even spread."""


def best_share(limit: int) -> int:
    return max(1, int(limit * BEST_KEPT))


def thin(items: Sequence[T], limit: int, loss: Callable[[T], float]) -> Thinned[T]:
    """At most ``limit`` of ``items`` (in their order): the best by ``loss`` always, and an even
    spread of the others. Deterministic, so the same study always draws the same plot."""
    if len(items) <= limit:
        return Thinned(list(items), len(items))
    by_loss = sorted(range(len(items)), key=lambda i: loss(items[i]))
    chosen = set(by_loss[: best_share(limit)])
    rest = [i for i in range(len(items)) if i not in chosen]
    chosen.update(_spread(rest, limit - len(chosen)))
    return Thinned([items[i] for i in sorted(chosen)], len(items), best_share(limit))


def spread(items: Sequence[T], limit: int) -> Thinned[T]:
    """At most ``limit`` of ``items``, evenly spaced in their order (first one included): for
    plots where no trial is better to keep than another, like the timeline."""
    if len(items) <= limit:
        return Thinned(list(items), len(items))
    return Thinned(_spread(items, limit), len(items))


def _spread(items: Sequence[T], count: int) -> list[T]:
    if count <= 0:
        return []
    stride = len(items) / count
    return [items[int(k * stride)] for k in range(count)]


def grid_domains(
    count: int, columns: int, gap: float = 0.08
) -> list[tuple[list[float], list[float]]]:
    """(x domain, y domain) of ``count`` subplots laid out ``columns`` to a row, top row first."""
    rows = math.ceil(count / columns)
    width = (1 - gap * (columns - 1)) / columns
    height = (1 - gap * (rows - 1)) / rows
    domains = []
    for k in range(count):
        row, column = divmod(k, columns)
        left = column * (width + gap)
        top = 1 - row * (height + gap)
        domains.append(([left, left + width], [top - height, top]))
    return domains
