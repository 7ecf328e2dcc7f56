"""A trial's intermediate values as an inline SVG line chart, drawn without a library.

The trial page shows how a trial learned (and where a stopping rule cut it) even when the
plotting extra is not installed and the page is opened with no network. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from kubetune.history import IntermediateValue


@dataclass(frozen=True)
class CurveStyle:
    """The chart's size and palette."""

    width: int = 640
    height: int = 260
    margin: int = 48
    colors: tuple[str, ...] = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


DEFAULT_STYLE = CurveStyle()


def curve_svg(
    points: tuple[IntermediateValue, ...], metrics: list[str], style: CurveStyle = DEFAULT_STYLE
) -> str:
    """An SVG with one line per metric in ``metrics`` over steps, or a sentence why not.

    Non-finite values are left out of the lines and counted in a note under the chart.
    """
    series = {m: _finite_points(points, m) for m in metrics}
    series = {m: pts for m, pts in series.items() if pts}
    if not series:
        return '<p class="empty">This trial reported no intermediate values.</p>'
    every = [p for pts in series.values() for p in pts]
    x_scale = _scale([x for x, _ in every], style.margin, style.width - style.margin)
    y_scale = _scale([y for _, y in every], style.height - style.margin, style.margin)
    parts = [
        f'<svg class="curve" role="img" width="{style.width}" height="{style.height}" '
        f'viewBox="0 0 {style.width} {style.height}" xmlns="http://www.w3.org/2000/svg">',
        *_axes(every, style),
    ]
    for i, (metric, pts) in enumerate(series.items()):
        color = style.colors[i % len(style.colors)]
        coords = " ".join(f"{x_scale(x):.1f},{y_scale(y):.1f}" for x, y in pts)
        parts.append(
            f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}">'
            f"<title>{escape(metric)}</title></polyline>"
        )
        parts.append(
            f'<text x="{style.margin + 8}" y="{style.margin - 28 + 14 * i}" fill="{color}" '
            f'font-size="12">{escape(metric)}</text>'
        )
    parts.append("</svg>")
    skipped = _non_finite_count(points, metrics)
    if skipped:
        parts.append(f'<p class="note">{skipped} non-finite value(s) left out of the chart.</p>')
    return "".join(parts)


def _finite_points(points: tuple[IntermediateValue, ...], metric: str) -> list[tuple[float, float]]:
    return [
        (float(p.step), p.values[metric])
        for p in points
        if metric in p.values and math.isfinite(p.values[metric])
    ]


def _non_finite_count(points: tuple[IntermediateValue, ...], metrics: list[str]) -> int:
    return sum(
        1 for p in points for m in metrics if m in p.values and not math.isfinite(p.values[m])
    )


def _scale(values: list[float], start: float, end: float) -> _Scale:
    low, high = min(values), max(values)
    return _Scale(low, high if high > low else low + 1.0, start, end)


@dataclass(frozen=True)
class _Scale:
    low: float
    high: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.low) / (self.high - self.low) * (self.end - self.start)


def _axes(every: list[tuple[float, float]], style: CurveStyle) -> list[str]:
    """The two axes with the step and value ranges written at their ends."""
    left, right = style.margin, style.width - style.margin
    top, bottom = style.margin, style.height - style.margin
    xs, ys = [x for x, _ in every], [y for _, y in every]
    line = 'stroke="#888" stroke-width="1"'
    end = 'font-size="11" text-anchor="end"'
    return [
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" {line}/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" {line}/>',
        f'<text x="{left}" y="{bottom + 16}" font-size="11">{min(xs):g}</text>',
        f'<text x="{right}" y="{bottom + 16}" font-size="11" text-anchor="end">{max(xs):g}</text>',
        f'<text x="{(left + right) // 2}" y="{bottom + 32}" font-size="11" '
        'text-anchor="middle">step</text>',
        f'<text x="{left - 4}" y="{bottom}" {end}>{min(ys):.4g}</text>',
        f'<text x="{left - 4}" y="{top + 10}" {end}>{max(ys):.4g}</text>',
    ]
