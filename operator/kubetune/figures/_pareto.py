"""Several objectives: the Pareto front among all trials, and how its hypervolume grew.

The front is computed over every scored trial with ``kubetune.hypervolume`` (the study's
summary keeps at most 20 front trials; a plot can show them all). The hypervolume history
uses one reference point for the whole study — the default one over all trials — so its
curve only rises, and rises exactly when a trial pushed the front forward.
"""

from __future__ import annotations

import numpy as np

from kubetune.figures._figure import ACCENT, MUTED, Figure, Json, empty_figure, spread
from kubetune.figures._trials import Scored, no_scored_trial, objective_label
from kubetune.hypervolume import default_reference_point, hypervolume, pareto_mask
from kubetune.record import StudyRecord


def front_mask(scored: list[Scored]) -> list[bool]:
    if not scored:
        return []
    return [bool(v) for v in pareto_mask(np.array([s.losses for s in scored]))]


def pareto_figure(record: StudyRecord, scored: list[Scored], limit: int) -> Figure:
    """Two objectives: a scatter with the front joined by a line. Three or more: a matrix
    of pairwise scatters with the front in the accent colour. Every front trial is drawn, and
    at most ``limit`` of the others."""
    title = "Pareto front"
    if not scored:
        return empty_figure("pareto", title, no_scored_trial(record))
    on_front = front_mask(scored)
    objectives = record.spec.objective_list
    labels = [objective_label(o) for o in objectives]
    front = [s for s, f in zip(scored, on_front, strict=True) if f]
    rest = spread([s for s, f in zip(scored, on_front, strict=True) if not f], limit)
    note = f"{len(front):,} of {len(scored):,} trials on the front"
    if len(rest.kept) < rest.total:
        note += (
            f"; every front trial shown, and {len(rest.kept):,} of the {rest.total:,} others "
            "(an even spread in trial order)"
        )
    if len(objectives) == 2:
        front.sort(key=lambda s: s.losses)
        data = [
            _points(rest.kept, "other trials", MUTED, "markers"),
            _points(front, "front", ACCENT, "lines+markers"),
        ]
        layout: dict[str, Json] = {
            "xaxis": {"title": {"text": labels[0]}},
            "yaxis": {"title": {"text": labels[1]}},
            "hovermode": "closest",
        }
        return Figure("pareto", title, data, layout, note)
    shown = [*rest.kept, *front]  # the front drawn last, on top
    matrix = {
        "type": "splom",
        "dimensions": [
            {"label": label, "values": [s.values[k] for s in shown]}
            for k, label in enumerate(labels)
        ],
        "text": [f"trial {s.trial.index}" for s in rest.kept]
        + [f"trial {s.trial.index} (front)" for s in front],
        "marker": {"color": [MUTED] * len(rest.kept) + [ACCENT] * len(front), "size": 5},
        "diagonal": {"visible": False},
        "showupperhalf": False,
    }
    layout = {"height": 220 * len(objectives), "hovermode": "closest", "dragmode": "select"}
    return Figure("pareto", title, [matrix], layout, note)


def _points(group: list[Scored], name: str, colour: str, mode: str) -> Json:
    return {
        "type": "scatter",
        "mode": mode,
        "name": name,
        "x": [s.values[0] for s in group],
        "y": [s.values[1] for s in group],
        "text": [f"trial {s.trial.index}" for s in group],
        "marker": {"color": colour, "size": 7 if name == "front" else 5},
        "line": {"color": colour, "shape": "hv"},
        "hovertemplate": "%{text}<br>%{x:.6g}, %{y:.6g}<extra></extra>",
    }


def hypervolume_figure(record: StudyRecord, scored: list[Scored], checkpoints: int) -> Figure:
    """The hypervolume of the front of the first n scored trials, against n's last index."""
    title = "Hypervolume history"
    if not scored:
        return empty_figure("hypervolume", title, no_scored_trial(record))
    losses = np.array([s.losses for s in scored])
    reference = default_reference_point(losses)
    count = len(scored)
    ends = sorted({round(k * count / checkpoints) for k in range(1, checkpoints + 1)} | {count})
    ends = [e for e in ends if e > 0]
    volumes = []
    front = losses[:0]
    for start, end in zip([0, *ends[:-1]], ends, strict=True):
        # The front of a prefix is the front of the previous prefix's front and the new trials.
        candidates = np.vstack([front, losses[start:end]])
        front = candidates[pareto_mask(candidates)]
        volumes.append(float(hypervolume(front, reference)))
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": [scored[e - 1].trial.index for e in ends],
        "y": volumes,
        "line": {"color": ACCENT, "shape": "hv"},
        "hovertemplate": "up to trial %{x}: %{y:.6g}<extra></extra>",
    }
    layout = {
        "xaxis": {"title": {"text": "trial"}},
        "yaxis": {"title": {"text": "hypervolume (losses)"}},
    }
    point = ", ".join(f"{v:.4g}" for v in reference)
    note = f"reference point (as losses, maximized objectives negated): ({point})"
    if len(ends) < count:
        note += f"; computed at {len(ends)} points along the study"
    return Figure("hypervolume", title, [trace], layout, note)
