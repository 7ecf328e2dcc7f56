"""The trials a plot reads, taken out of a study record once: scored trials and their labels.

Every plot of a report shows trials against their objectives; this module says once which
trials count (succeeded, every objective a finite number), what their losses are (smaller is
better, as ``kubetune.history`` defines them), and how parameters and objectives are named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubetune.api.study import Direction, Objective, ParameterSpec, ParameterType, ParameterValue
from kubetune.api.trial import TrialPhase
from kubetune.history import objective_losses
from kubetune.record import RecordedTrial, StudyRecord


@dataclass(frozen=True)
class Scored:
    """A succeeded trial whose objectives are all finite: what most plots draw."""

    trial: RecordedTrial
    losses: tuple[float, ...]
    """One loss per objective (maximized metrics negated): smaller is better."""
    values: tuple[float, ...]
    """The reported objective values, as the person reads them."""

    @property
    def loss(self) -> float:
        return self.losses[0]


def loss_of(k: int) -> Callable[[Scored], float]:
    """The loss of objective ``k`` of a scored trial, to rank trials by one objective."""
    return lambda scored: scored.losses[k]


def scored_trials(record: StudyRecord) -> list[Scored]:
    """Succeeded trials with finite values for every objective, in index order."""
    objectives = record.spec.objective_list
    scored = []
    for trial in record.trials:
        if trial.phase is not TrialPhase.SUCCEEDED:
            continue
        losses = objective_losses(trial.values, objectives)
        if losses is not None:
            values = tuple(trial.values[o.metric] for o in objectives)
            scored.append(Scored(trial, losses, values))
    return scored


def objective_label(objective: Objective) -> str:
    arrow = "↓" if objective.direction is Direction.MINIMIZE else "↑"
    return f"{objective.metric} {arrow}"


def smaller_is_better(objective: Objective) -> bool:
    """Whether a colour scale of this objective's values should put small values on top."""
    return objective.direction is Direction.MINIMIZE


def no_scored_trial(record: StudyRecord) -> str:
    """Why a plot of scored trials is empty, in words that say what happened instead."""
    if not record.trials:
        return "no trial has run yet"
    counts = ", ".join(
        f"{n} {phase.value.lower()}" for phase, n in record.summary.counts.items() if n
    )
    return f"no trial has succeeded with finite objective values yet ({counts})"


def axis_value(spec: ParameterSpec, value: ParameterValue | None) -> float | str | None:
    """A parameter value as a plot axis holds it: categoricals as text, numbers as numbers."""
    if value is None:
        return None
    if spec.type is ParameterType.CATEGORICAL:
        return str(value)
    if isinstance(value, bool | str):
        return None
    return float(value)


def axis_kind(spec: ParameterSpec) -> str:
    """The plotly axis type of a parameter: category, log or linear."""
    if spec.type is ParameterType.CATEGORICAL:
        return "category"
    return "log" if spec.log else "linear"
