"""A study record: the one read model of a study, wherever it ran.

A record is what a study *is* once you want to look at it: its spec, every trial (parameters,
attributes, phase and why, reported values, times, GPU time, exit code) and the summary
derived from them (trials by phase, the best trial or the Pareto front). Two readers build
it — ``kubetune.local.reader`` from a ``.kubetune/<study>`` state directory and
``kubetune.kube.reader`` from a cluster — and everything that shows a study (``kubetune
results``, and later reports and importance) reads only records, so a laptop study and a
cluster study look the same. Pure: no I/O; the readers do that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from kubetune.api.attributes import AttributeValue, LineageAttribute
from kubetune.api.study import ParameterValue, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.history import IntermediateValue, feasibility, objective_losses
from kubetune.summary import Summary, summarize


class RecordUnavailable(Exception):
    """A reader could not build a record; the message says why and what to do about it."""


@dataclass(frozen=True)
class RecordedTrial:
    """One trial as a study record holds it: everything a person may want to see of it."""

    index: int
    params: Mapping[str, ParameterValue]
    phase: TrialPhase
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    reason: str | None = None
    message: str | None = None
    values: Mapping[str, float] = field(default_factory=dict)
    """Latest reported value of each metric (objectives and spec.metrics alike)."""
    intermediate: tuple[IntermediateValue, ...] = ()
    budget: float | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    gpu_seconds: float = 0.0
    exit_code: int | None = None

    @property
    def seconds(self) -> float | None:
        """How long the trial ran, once it has finished."""
        if self.start_time is None or self.completion_time is None:
            return None
        return (self.completion_time - self.start_time).total_seconds()


@dataclass(frozen=True)
class StudyRecord:
    """A study's spec, its trials in index order, and their summary."""

    name: str
    spec: StudySpec
    trials: tuple[RecordedTrial, ...]
    summary: Summary
    source: str
    """Where the record was read from, for people: a state directory or namespace/name."""

    @property
    def pareto_front(self) -> list[RecordedTrial]:
        """Every non-dominated feasible trial of a multi-objective study, in index order
        (empty for one objective)."""
        by_index = {t.index: t for t in self.trials}
        return [by_index[i] for i in self.summary.front_indices]

    @property
    def best(self) -> RecordedTrial | None:
        """The best trial of a single-objective study."""
        return next((t for t in self.trials if t.index == self.summary.best_index), None)

    def ancestry(self, index: int) -> list[RecordedTrial]:
        """The trials trial ``index`` continues, oldest first, ending with it: its parent
        (``pbt.parent``), the parent's parent, … back to a first segment. For the best trial
        of a PBT study this is the schedule its weights were trained with. A parent missing
        from the record, or a loop, ends the chain."""
        by_index = {t.index: t for t in self.trials}
        chain: list[RecordedTrial] = []
        trial = by_index.get(index)
        while trial is not None and trial not in chain:
            chain.append(trial)
            parent = trial.attributes.get(LineageAttribute.PARENT)
            if isinstance(parent, bool) or not isinstance(parent, int | float):
                break
            trial = by_index.get(int(parent))
        return chain[::-1]

    def ranked(self) -> list[RecordedTrial]:
        """Trials best first: succeeded feasible ones by the first objective, then succeeded
        infeasible ones the same way, then the rest by index."""
        objectives = self.spec.objective_list[:1]

        def order(trial: RecordedTrial) -> tuple[int, float, int]:
            losses = objective_losses(trial.values, objectives)
            if trial.phase is not TrialPhase.SUCCEEDED or losses is None:
                return (2, 0.0, trial.index)
            feasible = feasibility(trial.values, self.spec.constraints).feasible
            return (0 if feasible else 1, losses[0], trial.index)

        return sorted(self.trials, key=order)


@dataclass(frozen=True)
class StudyOverview:
    """One line of a list of studies: enough to choose one, without reading its trials.

    The readers' ``list_*_studies`` functions return these; ``kubetune dashboard`` lists them.
    """

    name: str
    phase: str
    """The study's phase (a cluster study's status), or Running/Finished for a local one."""
    finished: int
    total: int
    max_trials: int
    best_value: float | None
    source: str


def overview(record: StudyRecord) -> StudyOverview:
    """The overview of a study read in full (a local study has no status to read it from)."""
    summary = record.summary
    phase = "Running" if summary.active else ("Finished" if summary.total else "Pending")
    objective = record.spec.objective_list[0].metric
    best = summary.best_values.get(objective) if summary.best_index is not None else None
    return StudyOverview(
        name=record.name,
        phase=phase,
        finished=summary.finished,
        total=summary.total,
        max_trials=record.spec.budget.max_trials,
        best_value=best,
        source=record.source,
    )


def study_record(
    name: str, spec: StudySpec, trials: Iterable[RecordedTrial], source: str
) -> StudyRecord:
    """The record of ``trials`` of a study, with its summary computed the engine's way.

    Trials are put in index order, and each trial's parameters in the spec's order, so every
    view of the record lists them as the study file does.
    """
    order = {p.name: i for i, p in enumerate(spec.parameters)}
    ordered = tuple(
        replace(t, params=dict(sorted(t.params.items(), key=lambda kv: order.get(kv[0], -1))))
        for t in sorted(trials, key=lambda t: t.index)
    )
    return StudyRecord(name, spec, ordered, summarize(spec, ordered), source)
