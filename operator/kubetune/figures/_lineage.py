"""Population-based training: how each member's objective moved along the resource it was
trained for, where members took over better ones' checkpoints, and the hyperparameter
schedule behind the best model.

The lineage is read from trial attributes (``api.attributes.LineageAttribute``): each trial
is one segment of a member's training, ending at its ``budget`` (the cumulative resource) with
its objective value; ``pbt.parent`` (or ``checkpoint.restoreFrom``) names the trial it
continued from, and ``pbt.exploited`` says the parent was another member's. A trial without a
budget counts as one unit of resource. A study without these attributes has no lineage plots.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubetune.api.attributes import RESTORE_ATTRIBUTE, LineageAttribute
from kubetune.api.study import ParameterType
from kubetune.api.trial import trial_name
from kubetune.figures._figure import ACCENT, MUTED, Figure, Json, empty_figure, value_axis
from kubetune.figures._trials import axis_value, objective_label
from kubetune.history import objective_losses
from kubetune.record import RecordedTrial, StudyRecord

MEMBER_COLOURS = ("#4c78a8", "#72b7b2", "#54a24b", "#b279a2", "#9d755d", "#bab0ac", "#79706e")
"""Members' lines cycle through these quiet colours; the best member is drawn in ``ACCENT``."""

EXPLOIT_COLOUR = "#6c757d"
"""The dashed connectors from an exploited trial to the member that took it over."""


@dataclass(frozen=True)
class Segment:
    """One trial of a population: where its training started and ended, and its value."""

    trial: RecordedTrial
    member: int
    generation: int
    start: float
    end: float
    value: float
    loss: float
    parent: Segment | None
    exploited: bool


def has_lineage(record: StudyRecord) -> bool:
    """Whether any trial carries a population lineage (``pbt.member``)."""
    return any(LineageAttribute.MEMBER in t.attributes for t in record.trials)


def lineage_figures(record: StudyRecord) -> list[Figure]:
    """The lineage plot and the best model's hyperparameter schedule."""
    segments = _segments(record)
    if not segments:
        why = "no trial of the population has reported a finite objective value yet"
        return [
            empty_figure("lineage", "Population lineage", why),
            empty_figure("lineage-schedule", "Schedule of the best model", why),
        ]
    return [_lineage_figure(record, segments), _schedule_figure(record, segments)]


def _segments(record: StudyRecord) -> list[Segment]:
    """Segments of the trials with a member and a finite first objective, in index order. A
    parent is always an earlier trial (it had to exist to be continued), so one pass links
    every segment to its parent's; a parent without a value starts its child at zero."""
    objective = record.spec.objective_list[0]
    made: dict[str, Segment] = {}
    for trial in record.trials:
        losses = objective_losses(trial.values, [objective])
        member = trial.attributes.get(LineageAttribute.MEMBER)
        if losses is None or not isinstance(member, int) or isinstance(member, bool):
            continue
        named = trial.attributes.get(LineageAttribute.PARENT)
        named = named or trial.attributes.get(RESTORE_ATTRIBUTE)
        parent = made.get(str(named)) if named else None
        generation = trial.attributes.get(LineageAttribute.GENERATION)
        start = parent.end if parent else 0.0
        made[trial_name(record.name, trial.index)] = Segment(
            trial=trial,
            member=member,
            generation=generation if isinstance(generation, int) else 0,
            start=start,
            end=float(trial.budget) if trial.budget is not None else start + 1.0,
            value=trial.values[objective.metric],
            loss=losses[0],
            parent=parent,
            exploited=parent is not None
            and trial.attributes.get(LineageAttribute.EXPLOITED) is True,
        )
    return list(made.values())


def _hover(segment: Segment) -> str:
    params = ", ".join(f"{k}={_shown(v)}" for k, v in segment.trial.params.items())
    how = " (exploited)" if segment.exploited else ""
    return (
        f"trial {segment.trial.index}: member {segment.member}, generation "
        f"{segment.generation}{how}<br>{segment.value:.6g} at {segment.end:g}<br>{params}"
    )


def _shown(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _lineage_figure(record: StudyRecord, segments: list[Segment]) -> Figure:
    """Objective against cumulative resource, one line per member through its segments;
    an exploit is a dashed connector from the trial taken over to the member's new segment."""
    best = min(segments, key=lambda s: s.loss)
    members = sorted({s.member for s in segments})
    data: list[Json] = []
    for k, member in enumerate(members):
        points: list[Segment | None] = []  # None: a gap in the member's line
        for s in (s for s in segments if s.member == member):
            if points and s.exploited:
                points.append(None)
            elif not points and s.parent is not None and not s.exploited:
                points.append(s.parent)  # the line starts where its first segment started
            points.append(s)
        xs = [p.end if p else None for p in points]
        ys = [p.value if p else None for p in points]
        text = [_hover(p) if p else None for p in points]
        top = member == best.member
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": f"member {member}" + (" (best)" if top else ""),
                "x": xs,
                "y": ys,
                "text": text,
                "connectgaps": False,
                "line": {
                    "color": ACCENT if top else MEMBER_COLOURS[k % len(MEMBER_COLOURS)],
                    "width": 3 if top else 1.5,
                },
                "marker": {"size": 5},
                "hovertemplate": "%{text}<extra></extra>",
            }
        )
    data.append(_exploits(segments))
    objective = record.spec.objective_list[0]
    layout = {
        "xaxis": {"title": {"text": "cumulative resource (budget)"}},
        "yaxis": value_axis([s.value for s in segments], objective_label(objective)),
        "hovermode": "closest",
        "showlegend": len(members) <= MEMBERS_IN_LEGEND,
    }
    exploits = sum(s.exploited for s in segments)
    note = (
        f"{len(members)} members, {len(segments)} segments, {exploits} exploits (dashed: a "
        f"member taking over a better trial's checkpoint and hyperparameters); member "
        f"{best.member} holds the best value"
    )
    return Figure("lineage", "Population lineage", data, layout, note)


MEMBERS_IN_LEGEND = 12
"""Above this many members the legend would crowd the plot: hover names them instead."""


def _exploits(segments: list[Segment]) -> Json:
    xs: list[float | None] = []
    ys: list[float | None] = []
    for s in segments:
        if s.exploited and s.parent is not None:
            xs.extend([s.parent.end, s.end, None])
            ys.extend([s.parent.value, s.value, None])
    return {
        "type": "scatter",
        "mode": "lines",
        "name": "exploit",
        "x": xs,
        "y": ys,
        "connectgaps": False,
        "line": {"color": EXPLOIT_COLOUR, "width": 1, "dash": "dash"},
        "hoverinfo": "skip",
    }


def _ancestry(best: Segment) -> list[Segment]:
    """The best segment and every segment its model continued, oldest first."""
    chain = [best]
    while chain[-1].parent is not None:
        chain.append(chain[-1].parent)
    return chain[::-1]


def _schedule_figure(record: StudyRecord, segments: list[Segment]) -> Figure:
    """Each hyperparameter of the best model's ancestry against the resource it was used
    for, one small plot per parameter, stacked: the schedule PBT found."""
    best = min(segments, key=lambda s: s.loss)
    chain = _ancestry(best)
    shown = [p for p in record.spec.parameters if any(p.name in s.trial.params for s in chain)]
    if not shown:
        why = "the best model's trials have no parameters"
        return empty_figure("lineage-schedule", "Schedule of the best model", why)
    data: list[Json] = []
    layout: dict[str, Json] = {"showlegend": False, "hovermode": "closest"}
    gap = 0.04
    height = (1 - gap * (len(shown) - 1)) / len(shown)
    for k, spec in enumerate(shown):
        suffix = "" if k == 0 else str(k + 1)
        xs: list[float] = []
        ys: list[float | str | None] = []
        for s in chain:
            value = axis_value(spec, s.trial.params.get(spec.name))
            xs.extend([s.start, s.end])
            ys.extend([value, value])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": xs,
                "y": ys,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "line": {"color": ACCENT if k == 0 else MUTED, "width": 2},
                "hovertemplate": f"{spec.name} %{{y}} up to %{{x:g}}<extra></extra>",
            }
        )
        top = 1 - k * (height + gap)
        layout[f"yaxis{suffix}"] = {
            "domain": [top - height, top],
            "title": {"text": spec.name},
            "type": "category" if spec.type is ParameterType.CATEGORICAL else "linear",
            "anchor": f"x{suffix}",
        }
        if spec.log:
            layout[f"yaxis{suffix}"]["type"] = "log"
        last = k == len(shown) - 1
        layout[f"xaxis{suffix}"] = {
            "anchor": f"y{suffix}",
            "showticklabels": last,
            "title": {"text": "cumulative resource (budget)" if last else ""},
            **({} if k == 0 else {"matches": "x"}),
        }
    layout["height"] = 80 + 110 * len(shown)
    trials = " → ".join(str(s.trial.index) for s in chain)
    note = f"the hyperparameters behind the best value (trial {best.trial.index}): trials {trials}"
    return Figure("lineage-schedule", "Schedule of the best model", data, layout, note)
