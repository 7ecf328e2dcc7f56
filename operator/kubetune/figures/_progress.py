"""How a study moved over time: objective history, learning curves, and the trial timeline.

These plots are read along the trial order or the clock: whether the search still improves,
how trials learned and where the pruned ones were cut, and how trials shared the machines.
"""

from __future__ import annotations

import math

from kubetune.api.reasons import TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.figures._figure import (
    ACCENT,
    PHASE_COLOURS,
    Figure,
    Json,
    empty_figure,
    spread,
    thin,
    value_axis,
)
from kubetune.figures._trials import Scored, loss_of, no_scored_trial, objective_label
from kubetune.history import objective_losses
from kubetune.record import RecordedTrial, StudyRecord


def history_figures(record: StudyRecord, scored: list[Scored], limit: int) -> list[Figure]:
    """One optimization history per objective: the trials' values (at most ``limit``, the
    best always among them) and the best so far, exact: it is drawn where it steps."""
    objectives = record.spec.objective_list
    if not scored:
        return [empty_figure("history", "Optimization history", no_scored_trial(record))]
    figures = []
    for k, objective in enumerate(objectives):
        thinned = thin(scored, limit, loss_of(k))
        points = {
            "type": "scatter",
            "mode": "markers",
            "name": "trial",
            "x": [s.trial.index for s in thinned.kept],
            "y": [s.values[k] for s in thinned.kept],
            "marker": {"color": PHASE_COLOURS[TrialPhase.SUCCEEDED], "size": 6, "opacity": 0.7},
            "hovertemplate": "trial %{x}<br>%{y:.6g}<extra></extra>",
        }
        steps = best_so_far(scored, k)
        line = {
            "type": "scatter",
            "mode": "lines",
            "name": "best so far",
            "x": [index for index, _ in steps],
            "y": [value for _, value in steps],
            "line": {"color": ACCENT, "width": 2, "shape": "hv"},
        }
        label = objective_label(objective)
        layout = {
            "xaxis": {"title": {"text": "trial"}},
            "yaxis": value_axis([s.values[k] for s in scored], label),
            "legend": {
                "orientation": "h",
                "y": 1.02,
                "yanchor": "bottom",
                "x": 1,
                "xanchor": "right",
            },
        }
        key = "history" if k == 0 else f"history-{objective.metric}"
        title = f"Optimization history: {label}"
        figures.append(Figure(key, title, [points, line], layout, thinned.note))
    return figures


def best_so_far(scored: list[Scored], k: int) -> list[tuple[int, float]]:
    """(trial index, value) where objective ``k``'s best so far improved, and the last trial:
    drawn as steps, it is the whole best-so-far line in a handful of points."""
    steps: list[tuple[int, float]] = []
    best = math.inf
    for s in scored:
        if s.losses[k] < best:
            best = s.losses[k]
            steps.append((s.trial.index, s.values[k]))
    if steps[-1][0] != scored[-1].trial.index:
        steps.append((scored[-1].trial.index, steps[-1][1]))
    return steps


CUT_REASON_MAX = 120
"""Characters of a pruned trial's stop reason shown when hovering where it was cut."""


def intermediate_figure(record: StudyRecord, limit: int) -> Figure:
    """Learning curves of the first objective; pruned trials in their own colour, with an ✕
    where they were cut and the rule's words on hover."""
    title = "Intermediate values"
    objective = record.spec.objective_list[0]
    reported = [t for t in record.trials if t.intermediate]

    def final_loss(trial: RecordedTrial) -> float:
        last = max(trial.intermediate, key=lambda point: point.step)
        losses = objective_losses(last.values, [objective])
        return losses[0] if losses else math.inf

    # Thinned before the curves are built: only the drawn trials' points are ever read.
    thinned = thin(reported, limit, final_loss)
    kept = [(t, c) for t in thinned.kept if (c := metric_curve(t, objective.metric))]
    if not kept:
        return empty_figure("intermediate", title, "no trial reported intermediate values")
    data: list[Json] = []
    for phase in (
        TrialPhase.SUCCEEDED,
        TrialPhase.RUNNING,
        TrialPhase.PRUNED,
        TrialPhase.STOPPED,
        TrialPhase.FAILED,
    ):
        group = [(t, c) for t, c in kept if t.phase is phase]
        if group:
            data.append(_curves_trace(group, phase))
    cut = [(t, c) for t, c in kept if t.phase is TrialPhase.PRUNED]
    if cut:
        data.append(_cut_marks(cut))
    layout = {
        "xaxis": {"title": {"text": "step"}},
        "yaxis": value_axis([v for _, c in kept for _, v in c], objective_label(objective)),
        "hovermode": "closest",
    }
    return Figure("intermediate", f"{title}: {objective.metric}", data, layout, thinned.note)


def metric_curve(trial: RecordedTrial, metric: str) -> list[tuple[int, float]]:
    """(step, value) of ``metric`` as the trial reported it, finite values only, by step."""
    points = [(p.step, p.values.get(metric)) for p in trial.intermediate]
    return sorted((step, v) for step, v in points if v is not None and math.isfinite(v))


def _curves_trace(
    group: list[tuple[RecordedTrial, list[tuple[int, float]]]], phase: TrialPhase
) -> Json:
    """All curves of one phase as one trace, separated by gaps: one trace per trial would
    make plotly.js slow long before thousands of trials."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    text: list[str | None] = []
    for trial, curve in group:
        xs.extend([step for step, _ in curve] + [None])
        ys.extend([value for _, value in curve] + [None])
        text.extend([f"trial {trial.index}"] * len(curve) + [None])
    return {
        "type": "scatter",
        "mode": "lines",
        "name": f"{phase.value.lower()} ({len(group)})",
        "x": xs,
        "y": ys,
        "text": text,
        "connectgaps": False,
        "line": {"color": PHASE_COLOURS[phase], "width": 1},
        "opacity": 0.6,
        "hovertemplate": "%{text}<br>step %{x}: %{y:.6g}<extra></extra>",
    }


def _cut_marks(cut: list[tuple[RecordedTrial, list[tuple[int, float]]]]) -> Json:
    def why(trial: RecordedTrial) -> str:
        reason = trial.message or trial.reason or TrialReason.EARLY_STOPPED.value
        return reason if len(reason) <= CUT_REASON_MAX else reason[: CUT_REASON_MAX - 1] + "…"

    return {
        "type": "scatter",
        "mode": "markers",
        "name": "cut here",
        "x": [c[-1][0] for _, c in cut],
        "y": [c[-1][1] for _, c in cut],
        "text": [f"trial {t.index} pruned: {why(t)}" for t, _ in cut],
        "marker": {"symbol": "x", "size": 8, "color": "#b5838d"},
        "hovertemplate": "%{text}<extra></extra>",
    }


def timeline_figure(record: StudyRecord, limit: int) -> Figure:
    """Each trial as a bar from its start to its end (or to the latest time seen, while it
    runs), coloured by phase, with its GPUs and GPU-seconds on hover; at most ``limit``
    bars, an even spread in trial order (the clock and the gaps stay where they were)."""
    title = "Timeline"
    started = [(t, t.start_time) for t in record.trials if t.start_time is not None]
    if not started:
        return empty_figure("timeline", title, "no trial has started yet")
    origin = min(start for _, start in started)
    latest = max(t.completion_time or start for t, start in started)
    gpus = record.spec.trial_template.resources.gpus
    shown = spread(started, limit)
    data: list[Json] = []
    for phase in TrialPhase:
        group = [(t, start) for t, start in shown.kept if t.phase is phase]
        if not group:
            continue
        xs: list[float | None] = []
        ys: list[int | None] = []
        text: list[str | None] = []
        for trial, started_at in group:
            start = (started_at - origin).total_seconds()
            end = ((trial.completion_time or latest) - origin).total_seconds()
            hover = (
                f"trial {trial.index} ({phase.value.lower()})<br>{end - start:,.1f} s, "
                f"{gpus} GPU(s), {trial.gpu_seconds:,.0f} GPU-seconds"
            )
            xs.extend([start, end, None])
            ys.extend([trial.index, trial.index, None])
            text.extend([hover, hover, None])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": f"{phase.value.lower()} ({len(group)})",
                "x": xs,
                "y": ys,
                "text": text,
                "connectgaps": False,
                "line": {"color": PHASE_COLOURS[phase], "width": _bar_width(len(shown.kept))},
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    layout = {
        "xaxis": {"title": {"text": "seconds since the first trial started"}},
        "yaxis": {"title": {"text": "trial"}, "autorange": "reversed"},
        "hovermode": "closest",
    }
    return Figure("timeline", title, data, layout, shown.note)


def _bar_width(trials: int) -> float:
    """Bars as thick as the plot allows without overlapping: thinner as trials grow."""
    return max(1.0, min(8.0, 200 / max(trials, 1)))
