"""One trial's learning curves as a figure, so the dashboard's trial page draws them as the
report draws every curve (plotly.js, the same look, hover and zoom).

One line per metric over the reported steps: the objectives first, then any other metric the
trial reported. Only the first is shown at first (the others are one legend click away:
metrics rarely share a scale). A pruned trial gets an ✕ where it was cut, with the rule's
words on hover. Non-finite values cannot be drawn; the note counts them.
"""

from __future__ import annotations

import math

from kubetune.api.trial import TrialPhase
from kubetune.figures._figure import PHASE_COLOURS, Figure, Json, empty_figure, value_axis
from kubetune.figures._progress import metric_curve
from kubetune.record import RecordedTrial, StudyRecord

TRIAL_CURVE = "trial-curve"
"""The key of the trial page's figure."""

METRIC_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
"""One colour per metric of a trial, in the order the metrics are listed."""


def trial_metrics(record: StudyRecord, trial: RecordedTrial) -> list[str]:
    """The study's objectives, then every other metric the trial reported, by name."""
    metrics = [o.metric for o in record.spec.objective_list]
    return metrics + sorted({m for p in trial.intermediate for m in p.values} - set(metrics))


def trial_figure(record: StudyRecord, trial: RecordedTrial) -> Figure:
    """The trial's intermediate values, one line per metric, or a figure saying there are none."""
    title = "Intermediate values"
    curves = [(m, metric_curve(trial, m)) for m in trial_metrics(record, trial)]
    curves = [(m, points) for m, points in curves if points]
    if not curves:
        return empty_figure(TRIAL_CURVE, title, "this trial reported no intermediate values")
    data: list[Json] = []
    for k, (metric, points) in enumerate(curves):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": metric,
                "x": [step for step, _ in points],
                "y": [value for _, value in points],
                "line": {"color": METRIC_COLOURS[k % len(METRIC_COLOURS)], "width": 2},
                "marker": {"size": 4},
                "visible": True if k == 0 else "legendonly",
                "hovertemplate": f"{metric}<br>step %{{x}}: %{{y:.6g}}<extra></extra>",
            }
        )
    first, points = curves[0]
    if trial.phase is TrialPhase.PRUNED:
        step, value = points[-1]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "cut here",
                "x": [step],
                "y": [value],
                "text": [trial.message or trial.reason or "pruned"],
                "marker": {"symbol": "x", "size": 10, "color": PHASE_COLOURS[TrialPhase.PRUNED]},
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    layout = {
        "xaxis": {"title": {"text": "step"}},
        "yaxis": value_axis([v for _, v in points], first),
        "hovermode": "closest",
        "height": 320,
    }
    skipped = _non_finite(trial)
    note = f"{skipped} non-finite value(s) left out" if skipped else None
    return Figure(TRIAL_CURVE, title, data, layout, note)


def _non_finite(trial: RecordedTrial) -> int:
    return sum(1 for p in trial.intermediate for v in p.values.values() if not math.isfinite(v))
