"""What the dashboard shows of a study record, as JSON: the trial table, a trial, a study.

The trial table is sorted, filtered and paged here, on the server, so a browser showing a
10,000-trial study only ever receives one page of rows. JSON cannot carry NaN or infinity
(a browser's ``JSON.parse`` rejects them), so non-finite numbers travel as the strings
``"NaN"``, ``"inf"`` and ``"-inf"``. Pure: no I/O.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubetune.api.trial import TrialPhase
from kubetune.record import RecordedTrial, StudyOverview, StudyRecord

DEFAULT_PAGE_SIZE = 100
"""Rows sent per request unless the page asks for another number."""
MAX_PAGE_SIZE = 1000
"""The most rows one request may ask for: more would make the 10,000-trial page slow."""

Cell = float | int | str | bool | None
JsonValue = Any  # what json.dumps accepts


class BadQuery(ValueError):
    """A table query parameter that does not read; the message names it and the fix."""


class UnknownTrial(LookupError):
    """A trial index the study does not have."""


class ColumnKind(enum.StrEnum):
    """Where a column's cells come from, which is also the prefix of its key."""

    TRIAL = "trial"
    PHASE = "phase"
    VALUE = "value"
    PARAM = "param"
    SECONDS = "seconds"
    REASON = "reason"


@dataclass(frozen=True)
class Column:
    """One column of the trial table; ``key`` is what ``?sort=`` names."""

    key: str
    label: str
    kind: ColumnKind
    cell: Callable[[RecordedTrial], Cell]


@dataclass(frozen=True)
class TableQuery:
    """What the study page asks of the trial table."""

    sort: str = ColumnKind.TRIAL.value
    descending: bool = False
    text: str = ""
    """Case-insensitive text every shown trial contains (parameters, phase, reason, message)."""
    phase: TrialPhase | None = None
    top: int | None = None
    """Only the ``top`` best succeeded trials, by the first objective."""
    offset: int = 0
    limit: int = DEFAULT_PAGE_SIZE


def parse_table_query(params: Mapping[str, str]) -> TableQuery:
    """A ``TableQuery`` from URL query parameters; ``BadQuery`` names a bad one."""
    phase = params.get("phase") or None
    if phase is not None and phase not in TrialPhase.__members__.values():
        choices = ", ".join(p.value for p in TrialPhase)
        raise BadQuery(f"phase={phase!r} is not a trial phase; use one of {choices}")
    top = _integer(params, "top", None, minimum=1)
    return TableQuery(
        sort=params.get("sort") or ColumnKind.TRIAL.value,
        descending=params.get("desc", "") in ("1", "true"),
        text=params.get("q", "").strip(),
        phase=None if phase is None else TrialPhase(phase),
        top=top,
        offset=_integer(params, "offset", 0, minimum=0) or 0,
        limit=min(_integer(params, "limit", DEFAULT_PAGE_SIZE, minimum=1) or 1, MAX_PAGE_SIZE),
    )


def _integer(params: Mapping[str, str], name: str, default: int | None, minimum: int) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        number = int(raw)
    except ValueError:
        raise BadQuery(f"{name}={raw!r} is not a whole number") from None
    if number < minimum:
        raise BadQuery(f"{name}={number} must be at least {minimum}")
    return number


def columns(record: StudyRecord) -> list[Column]:
    """The table's columns: trial, phase, every reported metric, every parameter, time."""
    metrics = _metric_names(record)
    return [
        Column(ColumnKind.TRIAL.value, "trial", ColumnKind.TRIAL, lambda t: t.index),
        Column(ColumnKind.PHASE.value, "phase", ColumnKind.PHASE, lambda t: t.phase.value),
        *(Column(f"value:{m}", m, ColumnKind.VALUE, _value_of(m)) for m in metrics),
        *(
            Column(f"param:{p.name}", p.name, ColumnKind.PARAM, _param_of(p.name))
            for p in record.spec.parameters
        ),
        Column(ColumnKind.SECONDS.value, "seconds", ColumnKind.SECONDS, lambda t: t.seconds),
        Column(ColumnKind.REASON.value, "reason", ColumnKind.REASON, lambda t: t.reason),
    ]


def _value_of(metric: str) -> Callable[[RecordedTrial], Cell]:
    return lambda trial: trial.values.get(metric)


def _param_of(name: str) -> Callable[[RecordedTrial], Cell]:
    return lambda trial: trial.params.get(name)


def _metric_names(record: StudyRecord) -> list[str]:
    """Objectives first, then the spec's extra metrics, then anything else a trial reported."""
    names = [o.metric for o in record.spec.objective_list]
    names += [m for m in record.spec.metrics if m not in names]
    reported = sorted({m for t in record.trials for m in t.values})
    return names + [m for m in reported if m not in names]


def trial_table(record: StudyRecord, query: TableQuery) -> dict[str, JsonValue]:
    """One page of the trial table, with how many trials matched and in all."""
    table = columns(record)
    by_key = {c.key: c for c in table}
    if query.sort not in by_key:
        raise BadQuery(
            f"sort={query.sort!r} is not a column of this study; use one of {', '.join(by_key)}"
        )
    trials = _top(record, query.top) if query.top else list(record.trials)
    if query.phase is not None:
        trials = [t for t in trials if t.phase is query.phase]
    if query.text:
        needle = query.text.casefold()
        trials = [t for t in trials if needle in _searchable(t)]
    ordered = _sorted(trials, by_key[query.sort].cell, query.descending)
    page = ordered[query.offset : query.offset + query.limit]
    return {
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind.value} for c in table],
        "rows": [
            {
                "index": t.index,
                "phase": t.phase.value,
                "message": t.message,
                "cells": [json_value(c.cell(t)) for c in table],
            }
            for t in page
        ],
        "matched": len(ordered),
        "total": len(record.trials),
        "offset": query.offset,
        "limit": query.limit,
        "sort": query.sort,
        "descending": query.descending,
    }


def _top(record: StudyRecord, count: int) -> list[RecordedTrial]:
    objective = record.spec.objective_list[0].metric
    scored = [
        t
        for t in record.ranked()
        if t.phase is TrialPhase.SUCCEEDED and _finite(t.values.get(objective))
    ]
    return scored[:count]


def _searchable(trial: RecordedTrial) -> str:
    words = [str(trial.index), trial.phase.value, trial.reason or "", trial.message or ""]
    words += [f"{k}={v}" for k, v in trial.params.items()]
    words += [f"{k}={v}" for k, v in trial.attributes.items()]
    return " ".join(words).casefold()


def _sorted(
    trials: list[RecordedTrial], cell: Callable[[RecordedTrial], Cell], descending: bool
) -> list[RecordedTrial]:
    """Numbers in order, then text and NaN, then trials without the value, whatever way.

    Sorting is stable, so trials with equal values stay in index order.
    """
    numbers, others, missing = [], [], []
    for trial in trials:
        value = cell(trial)
        if value is None:
            missing.append(trial)
        elif isinstance(value, int | float) and not math.isnan(value):
            numbers.append((float(value), trial))
        else:
            others.append((str(value), trial))
    numbers.sort(key=lambda pair: pair[0], reverse=descending)
    others.sort(key=lambda pair: pair[0], reverse=descending)
    return [t for _, t in numbers] + [t for _, t in others] + missing


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def json_value(value: Any) -> JsonValue:
    """``value`` with every non-finite float spelled as a string JSON can carry."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    return value


def overview_json(overview: StudyOverview) -> dict[str, JsonValue]:
    """A study of the list page."""
    return {
        "name": overview.name,
        "phase": overview.phase,
        "finished": overview.finished,
        "total": overview.total,
        "maxTrials": overview.max_trials,
        "bestValue": json_value(overview.best_value),
        "source": overview.source,
    }


def study_json(record: StudyRecord) -> dict[str, JsonValue]:
    """The study page's header: objectives, progress, trials by phase, the best trial."""
    summary = record.summary
    return {
        "name": record.name,
        "source": record.source,
        "objectives": [
            {"metric": o.metric, "direction": o.direction.value} for o in record.spec.objective_list
        ],
        "maxTrials": record.spec.budget.max_trials,
        "total": summary.total,
        "finished": summary.finished,
        "counts": {phase.value: n for phase, n in summary.counts.items() if n},
        "best": None
        if summary.best_index is None
        else {"index": summary.best_index, "values": json_value(summary.best_values)},
        "pareto": list(summary.pareto_indices),
        "notice": notice(record),
    }


def notice(record: StudyRecord) -> str | None:
    """A sentence for a study with nothing to rank yet, else None."""
    summary = record.summary
    if not summary.total:
        return "This study has no trials yet; the table fills in as they start."
    failed = summary.counts.get(TrialPhase.FAILED, 0)
    if failed == summary.total:
        return "Every trial so far has failed; open one to read its failure message."
    if not summary.has_result and not summary.active:
        return "No trial has reported a finite objective value, so there is no best trial."
    return None


def find_trial(record: StudyRecord, index: int) -> RecordedTrial:
    """The trial with ``index``, or ``UnknownTrial`` saying which indexes exist."""
    for trial in record.trials:
        if trial.index == index:
            return trial
    span = f"0 to {record.trials[-1].index}" if record.trials else "none yet"
    raise UnknownTrial(f"study {record.name!r} has no trial {index} (trials: {span})")


def trial_json(trial: RecordedTrial) -> dict[str, JsonValue]:
    """Everything about one trial."""
    return {
        "index": trial.index,
        "phase": trial.phase.value,
        "reason": trial.reason,
        "message": trial.message,
        "params": json_value(trial.params),
        "attributes": json_value(trial.attributes),
        "values": json_value(trial.values),
        "intermediate": [
            {"step": p.step, "values": json_value(p.values)} for p in trial.intermediate
        ],
        "budget": json_value(trial.budget),
        "startTime": None if trial.start_time is None else trial.start_time.isoformat(),
        "completionTime": None
        if trial.completion_time is None
        else trial.completion_time.isoformat(),
        "seconds": json_value(trial.seconds),
        "gpuSeconds": json_value(trial.gpu_seconds),
        "exitCode": trial.exit_code,
    }
