"""Parallel coordinates drawn as plain lines: every parameter of a trial at once.

One vertical axis per parameter (most important first) and a last one for the first
objective; each trial is a line through its values, scaled to the axis's range. plotly's own
``parcoords`` needs WebGL, which costs seconds of CPU in a browser without a GPU (headless,
remote desktops) whatever the number of lines; these SVG lines cost milliseconds. Trials are
split into bands by their objective value, one colour and one legend entry per band, best
drawn on top: click a band in the legend to hide it, double-click to see it alone.
"""

from __future__ import annotations

import math

from kubetune.api.study import ParameterSpec, ParameterType
from kubetune.figures._figure import Figure, Json, empty_figure, thin
from kubetune.figures._parameters import join_notes, shown_parameters
from kubetune.figures._trials import Scored, no_scored_trial, objective_label
from kubetune.record import StudyRecord

BANDS = ("#e9b600", "#7ad151", "#22a884", "#2a788e", "#414487", "#440154")
"""Band colours, best trials first: viridis (yellow best, as in the contours), its yellow
darkened to stay visible on a white page."""


def parallel_figure(
    record: StudyRecord, scored: list[Scored], ranked: list[ParameterSpec], lines: int, axes: int
) -> Figure:
    """One line per (thinned) trial across the most important parameters and the objective."""
    title = "Parallel coordinates"
    if not scored:
        return empty_figure("parallel", title, no_scored_trial(record))
    thinned = thin(scored, lines, lambda s: s.loss)
    shown, fewer = shown_parameters(ranked, axes)
    objective = record.spec.objective_list[0]
    values = [s.values[0] for s in thinned.kept]
    low, high = min(values), max(values)
    columns = [[_position(p, s.trial.params.get(p.name)) for s in thinned.kept] for p in shown]
    columns.append([_share(v, low, high) for v in values])
    ranked_trials = sorted(range(len(thinned.kept)), key=lambda i: thinned.kept[i].loss)
    size = math.ceil(len(ranked_trials) / len(BANDS))
    data: list[Json] = []
    for band, colour in reversed(list(enumerate(BANDS))):  # the best band is drawn last
        members = ranked_trials[band * size : (band + 1) * size]
        if members:
            data.append(_band(thinned.kept, members, columns, colour, objective.metric))
    names = [p.name for p in shown] + [objective_label(objective)]
    layout: dict[str, Json] = {
        "xaxis": {"visible": False, "range": [-0.3, len(names) - 0.7], "fixedrange": True},
        "yaxis": {"visible": False, "range": [-0.1, 1.14], "fixedrange": True},
        "shapes": [_axis_line(k) for k in range(len(names))],
        "annotations": _labels(shown, names, low, high),
        "hovermode": "closest",
        "height": 420,
        "legend": {
            "title": {"text": f"{objective.metric}:"},
            "orientation": "h",
            "y": -0.02,
            "yanchor": "top",
            "x": 0.5,
            "xanchor": "center",
        },
    }
    return Figure("parallel", title, data, layout, join_notes(thinned.note, fewer))


def _band(
    kept: list[Scored],
    members: list[int],
    columns: list[list[float | None]],
    colour: str,
    metric: str,
) -> Json:
    xs: list[float | None] = []
    ys: list[float | None] = []
    text: list[str | None] = []
    for i in sorted(members):
        xs.extend([*range(len(columns)), None])
        ys.extend([*(column[i] for column in columns), None])
        label = f"trial {kept[i].trial.index}: {metric} {kept[i].values[0]:.6g}"
        text.extend([label] * len(columns) + [None])
    band = [kept[i].values[0] for i in members]
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"{min(band):.4g} – {max(band):.4g}",
        "x": xs,
        "y": ys,
        "text": text,
        "connectgaps": False,
        "line": {"color": colour, "width": 1.2},
        "opacity": 0.75,
        "hovertemplate": "%{text}<extra></extra>",
    }


def _position(spec: ParameterSpec, value: object) -> float | None:
    """Where ``value`` sits on its parameter's axis, 0 (bottom) to 1 (top); None if inactive."""
    if value is None:
        return None
    if spec.type is ParameterType.CATEGORICAL:
        choices = [str(c) for c in spec.choices or []]
        return choices.index(str(value)) / max(len(choices) - 1, 1)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    low, high = float(spec.low or 0.0), float(spec.high or 1.0)
    if spec.log:
        return _share(math.log(value), math.log(low), math.log(high))
    return _share(float(value), low, high)


def _share(value: float, low: float, high: float) -> float:
    return 0.5 if high <= low else (value - low) / (high - low)


def _axis_line(k: int) -> Json:
    return {
        "type": "line",
        "x0": k,
        "x1": k,
        "y0": 0,
        "y1": 1,
        "line": {"color": "#495057", "width": 1},
        "layer": "above",
    }


def _labels(shown: list[ParameterSpec], names: list[str], low: float, high: float) -> list[Json]:
    """Each axis's name on top and its range (or its choices) along it."""
    notes: list[Json] = [_text(k, 1.08, name, bold=True) for k, name in enumerate(names)]
    for k, spec in enumerate(shown):
        if spec.type is ParameterType.CATEGORICAL:
            choices = [str(c) for c in spec.choices or []]
            step = 1 / max(len(choices) - 1, 1)
            notes.extend(_text(k, i * step, c) for i, c in enumerate(choices))
        else:
            notes.append(_text(k, 0, f"{spec.low:.4g}"))
            notes.append(_text(k, 1, f"{spec.high:.4g}" + (" (log)" if spec.log else "")))
    objective = len(shown)
    notes.extend([_text(objective, 0, f"{low:.4g}"), _text(objective, 1, f"{high:.4g}")])
    return notes


def _text(x: float, y: float, text: str, bold: bool = False) -> Json:
    return {
        "x": x,
        "y": y,
        "text": f"<b>{text}</b>" if bold else text,
        "showarrow": False,
        "xanchor": "center" if bold else "left",
        "xshift": 0 if bold else 4,
        "font": {"size": 12 if bold else 10, "color": "#212529" if bold else "#6c757d"},
        "bgcolor": "rgba(255,255,255,0.7)",
    }
