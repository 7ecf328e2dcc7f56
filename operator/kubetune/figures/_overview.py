"""The head of a report: what the study is and how it stands, and the table of failures.

Facts, not plots: the study's name, where it was read from, its algorithm and objectives,
trials by phase, and its result (the best trial, or the Pareto front). The failures table
lists every failed trial with its reason and message, since a failure is read, not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubetune.api.study import NO_RULE
from kubetune.api.trial import TrialPhase
from kubetune.figures._figure import Json, Table
from kubetune.figures._trials import objective_label
from kubetune.record import RecordedTrial, StudyRecord


@dataclass(frozen=True)
class Overview:
    """The study at a glance, as label → text pairs a page shows at its top."""

    name: str
    facts: list[tuple[str, str]]
    result: list[tuple[str, str]]
    """The best trial (one objective) or the front's trials (several), as label → text."""

    def to_json(self) -> dict[str, Json]:
        return {
            "name": self.name,
            "facts": [list(f) for f in self.facts],
            "result": [list(r) for r in self.result],
        }


def overview(record: StudyRecord) -> Overview:
    spec = record.spec
    counts = ", ".join(
        f"{n:,} {phase.value.lower()}" for phase, n in record.summary.counts.items() if n
    )
    facts = [
        ("source", record.source),
        ("algorithm", spec.algorithm.name),
        ("objectives", ", ".join(objective_label(o) for o in spec.objective_list)),
        ("parameters", f"{len(spec.parameters)}"),
        ("trials", f"{record.summary.total:,} ({counts or 'none yet'})"),
    ]
    if spec.early_stopping.rule != NO_RULE:
        facts.append(("early stopping", str(spec.early_stopping.rule)))
    return Overview(record.name, facts, _result(record))


def _result(record: StudyRecord) -> list[tuple[str, str]]:
    best = record.best
    if best is not None:
        return [(f"best: trial {best.index}", _describe(record, best))]
    front = record.pareto_front
    if front:
        return [(f"front: trial {t.index}", _describe(record, t)) for t in front]
    return [("result", "no trial has succeeded yet")]


def _describe(record: StudyRecord, trial: RecordedTrial) -> str:
    values = ", ".join(
        f"{o.metric} = {trial.values[o.metric]:.6g}"
        for o in record.spec.objective_list
        if o.metric in trial.values
    )
    params = ", ".join(f"{name} = {_text(value)}" for name, value in trial.params.items())
    return f"{values} — {params}"


def _text(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


MESSAGE_MAX = 2000
"""Characters of a failure message kept in the table; the rest is in `kubetune results`."""


def failures_table(record: StudyRecord, limit: int) -> Table:
    failed = [t for t in record.trials if t.phase is TrialPhase.FAILED]
    columns = ("trial", "reason", "exit code", "message")
    title = "Failures"
    if not failed:
        return Table("failures", title, columns, [], "no trial failed")
    rows = [
        [
            str(t.index),
            t.reason or "",
            "" if t.exit_code is None else str(t.exit_code),
            (t.message or "")[:MESSAGE_MAX],
        ]
        for t in failed[:limit]
    ]
    note = f"{len(failed):,} failed trials"
    if len(failed) > limit:
        note += f"; the first {limit:,} shown (`kubetune results --format json` has all)"
    return Table("failures", title, columns, rows, note)
