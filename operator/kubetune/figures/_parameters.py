"""Where the good region is: parameters against the objective, and which parameters matter.

Parallel coordinates show every parameter of a trial at once; slices show each parameter
against the objective; contours show the objective over the two or three most important pairs;
the importance chart ranks parameters per objective. With many parameters only the most
important are drawn (and the plot says so); with many trials, a thinned set (``thin``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kubetune.api.study import ParameterSpec, ParameterType
from kubetune.figures._figure import (
    COLOUR_SCALE,
    Figure,
    Json,
    empty_figure,
    grid_domains,
    thin,
    value_axis,
)
from kubetune.figures._trials import (
    Scored,
    axis_kind,
    axis_value,
    no_scored_trial,
    objective_label,
    smaller_is_better,
)
from kubetune.importance import ObjectiveImportance
from kubetune.record import StudyRecord


def ranked_parameters(
    record: StudyRecord, importance: Sequence[ObjectiveImportance]
) -> list[ParameterSpec]:
    """The study's parameters, most important (for the first objective) first; spec order
    when importance is unknown."""
    specs = {p.name: p for p in record.spec.parameters}
    first = importance[0].importances if importance else ()
    ranked = [specs[p.name] for p in first if p.name in specs]
    return ranked + [p for p in record.spec.parameters if p not in ranked]


def shown_parameters(
    ranked: list[ParameterSpec], limit: int
) -> tuple[list[ParameterSpec], str | None]:
    if len(ranked) <= limit:
        return ranked, None
    return ranked[:limit], f"the {limit} most important of {len(ranked)} parameters"


def join_notes(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


TRIAL_ORDER_SCALE = [[0.0, "#9ecae1"], [1.0, "#08306b"]]
"""Slices colour points from light (early trials) to dark (late ones), never invisible."""

SLICE_COLUMNS = 3
"""Slice plots per row."""


def slice_figure(
    record: StudyRecord, scored: list[Scored], ranked: list[ParameterSpec], points: int, axes: int
) -> Figure:
    """The first objective against each parameter, one small plot each, points coloured by
    trial order (late trials lighter): a parameter matters where the cloud has a shape."""
    title = "Slices"
    if not scored:
        return empty_figure("slice", title, no_scored_trial(record))
    thinned = thin(scored, points, lambda s: s.loss)
    shown, fewer = shown_parameters(ranked, axes)
    columns = min(SLICE_COLUMNS, len(shown))
    domains = grid_domains(len(shown), columns, gap=0.1)
    objective = record.spec.objective_list[0]
    data: list[Json] = []
    layout: dict[str, Json] = {"showlegend": False, "hovermode": "closest"}
    rows = math.ceil(len(shown) / columns)
    layout["height"] = 120 + 260 * rows
    for k, (spec, (xdomain, ydomain)) in enumerate(zip(shown, domains, strict=True)):
        suffix = "" if k == 0 else str(k + 1)
        kept = [s for s in thinned.kept if s.trial.params.get(spec.name) is not None]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "x": [axis_value(spec, s.trial.params.get(spec.name)) for s in kept],
                "y": [s.values[0] for s in kept],
                "text": [f"trial {s.trial.index}" for s in kept],
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "marker": {
                    "color": [s.trial.index for s in kept],
                    "colorscale": TRIAL_ORDER_SCALE,
                    "size": 5,
                    "showscale": False,
                },
                "hovertemplate": f"%{{text}}<br>{spec.name} %{{x}}<br>%{{y:.6g}}<extra></extra>",
            }
        )
        layout[f"xaxis{suffix}"] = {
            "domain": xdomain,
            "anchor": f"y{suffix}",
            "type": axis_kind(spec),
            "title": {"text": spec.name},
        }
        label = objective_label(objective) if k % columns == 0 else ""
        yaxis = value_axis([s.values[0] for s in kept], label)
        layout[f"yaxis{suffix}"] = {"domain": ydomain, "anchor": f"x{suffix}", **yaxis}
    order = "darker points are later trials"
    return Figure("slice", title, data, layout, join_notes(order, thinned.note, fewer))


def contour_figures(
    record: StudyRecord,
    scored: list[Scored],
    ranked: list[ParameterSpec],
    limits: ContourLimits,
) -> list[Figure]:
    """The first objective over the plane of each of the most important pairs of numeric
    parameters: the mean value of the trials in each cell, (a thinned set of) trials on top."""
    numeric = [p for p in ranked if p.type is not ParameterType.CATEGORICAL]
    if len(numeric) < 2:
        return []
    if not scored:
        return [empty_figure("contour", "Contour", no_scored_trial(record))]
    top = numeric[: limits.parameters]
    chosen = [(a, b) for i, a in enumerate(top) for b in top[i + 1 :]][: limits.pairs]
    columns = {p.name: _column(scored, p) for p in top}
    values = np.array([s.values[0] for s in scored], dtype=float)
    shown = thin(range(len(scored)), limits.points, lambda i: scored[i].loss)
    figures = []
    for k, (a, b) in enumerate(chosen):
        plane = _Plane(a, b, columns[a.name], columns[b.name], values)
        figures.append(_contour(record, plane, scored, shown.kept, limits.cells, k))
    return figures


@dataclass(frozen=True)
class ContourLimits:
    pairs: int
    parameters: int
    cells: int
    points: int


@dataclass(frozen=True)
class _Plane:
    a: ParameterSpec
    b: ParameterSpec
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray


def _column(scored: list[Scored], spec: ParameterSpec) -> np.ndarray:
    """A numeric parameter's value in each scored trial; NaN where it was inactive."""
    values = (s.trial.params.get(spec.name) for s in scored)
    return np.array(
        [
            float(v) if isinstance(v, int | float) and not isinstance(v, bool) else np.nan
            for v in values
        ],
        dtype=float,
    )


def _contour(
    record: StudyRecord,
    plane: _Plane,
    scored: list[Scored],
    shown: list[int],
    cells: int,
    k: int,
) -> Figure:
    a, b = plane.a, plane.b
    key = "contour" if k == 0 else f"contour-{k + 1}"
    title = f"Contour: {a.name} × {b.name}"
    both = np.isfinite(plane.x) & np.isfinite(plane.y)
    if both.sum() < 2:
        return empty_figure(key, title, f"fewer than 2 trials set both {a.name} and {b.name}")
    x, y, z = plane.x[both], plane.y[both], plane.z[both]
    xs, xcell = _cells(x, a, cells)
    ys, ycell = _cells(y, b, cells)
    sums = np.zeros((cells, cells))
    counts = np.zeros((cells, cells))
    np.add.at(sums, (ycell, xcell), z)
    np.add.at(counts, (ycell, xcell), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    grid = [[float(v) if math.isfinite(v) else None for v in row] for row in means]
    objective = record.spec.objective_list[0]
    surface = {
        "type": "contour",
        "x": xs,
        "y": ys,
        "z": grid,
        "connectgaps": True,
        "colorscale": COLOUR_SCALE,
        "reversescale": smaller_is_better(objective),
        "colorbar": {"title": {"text": objective.metric}},
        "contours": {"coloring": "heatmap"},
        "hovertemplate": (
            f"{a.name} %{{x:.4g}}<br>{b.name} %{{y:.4g}}<br>mean %{{z:.6g}}<extra></extra>"
        ),
    }
    dots = [i for i in shown if both[i]]
    trials = {
        "type": "scatter",
        "mode": "markers",
        "x": [float(plane.x[i]) for i in dots],
        "y": [float(plane.y[i]) for i in dots],
        "text": [f"trial {scored[i].trial.index}" for i in dots],
        "marker": {"color": "white", "size": 4, "line": {"color": "black", "width": 0.5}},
        "hovertemplate": "%{text}<extra></extra>",
        "showlegend": False,
    }
    layout = {"xaxis": _bounded_axis(a), "yaxis": _bounded_axis(b)}
    note = (
        f"mean {objective.metric} of the trials in each of {cells}×{cells} cells, gaps interpolated"
    )
    if len(dots) < int(both.sum()):
        note += f"; {len(dots):,} of {int(both.sum()):,} trials drawn as dots"
    return Figure(key, title, [surface, trials], layout, note)


def _bounded_axis(spec: ParameterSpec) -> dict[str, Json]:
    """A numeric parameter's axis over exactly its range (plotly wants log ranges in log10)."""
    low, high = float(spec.low or 0.0), float(spec.high or 1.0)
    bounds = [math.log10(low), math.log10(high)] if spec.log else [low, high]
    return {"title": {"text": spec.name}, "type": axis_kind(spec), "range": bounds}


def _cells(values: np.ndarray, spec: ParameterSpec, cells: int) -> tuple[list[float], np.ndarray]:
    """Cell centres along a parameter's range (log-spaced for log parameters) and the cell
    each value falls in."""
    low, high = float(spec.low or 0.0), float(spec.high or 1.0)
    scale = np.log if spec.log else (lambda v: v)
    lo, hi = float(scale(low)), float(scale(high))
    unit = (scale(values) - lo) / (hi - lo)
    cell = np.clip((unit * cells).astype(int), 0, cells - 1)
    centres = lo + (np.arange(cells) + 0.5) / cells * (hi - lo)
    positions = np.exp(centres) if spec.log else centres
    return [float(v) for v in positions], cell


IMPORTANCE_COLOURS = ("#457b9d", "#e76f51", "#2a9d8f", "#8d99ae")
"""One bar colour per objective (at most four objectives), in objective order."""


def importance_figure(record: StudyRecord, importance: Sequence[ObjectiveImportance]) -> Figure:
    """Each parameter's share in how good trials are (PED-ANOVA), one bar per objective."""
    title = "Parameter importance"
    computed = [r for r in importance if r.reason is None]
    if not computed:
        why = importance[0].reason if importance else "no importance was computed"
        return empty_figure("importance", title, why or "no importance was computed")
    order = [p.name for p in reversed(computed[0].importances)]
    data: list[Json] = []
    for result in computed:
        shares = {p.name: p.importance for p in result.importances}
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": objective_label(result.objective),
                "y": order,
                "x": [shares.get(name, 0.0) for name in order],
                "hovertemplate": "%{y}: %{x:.1%}<extra></extra>",
                "marker": {"color": IMPORTANCE_COLOURS[len(data) % len(IMPORTANCE_COLOURS)]},
            }
        )
    layout = {
        "barmode": "group",
        "xaxis": {"title": {"text": "share of importance"}, "tickformat": ".0%"},
        "yaxis": {"automargin": True},
        "height": max(200, 90 + 26 * len(order) * len(computed)),
        "bargap": 0.35,
        "showlegend": len(computed) > 1,
    }
    used = computed[0].used
    note = f"PED-ANOVA over {used:,} completed trials; docs/importance.md says how to read it"
    return Figure("importance", title, data, layout, note)
