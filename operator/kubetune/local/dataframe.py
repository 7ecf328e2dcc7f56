"""A study record as Optuna's ``study.trials_dataframe()`` lays it out, for ``--format optuna-csv``.

Optuna users have notebooks and scripts that read ``trials_dataframe()`` (or its CSV): one row
per trial in number order, with ``number``, ``value`` (or ``values_0``, ``values_1``, ... for
several objectives), ``datetime_start``, ``datetime_complete``, ``duration``, ``params_<name>``,
``user_attrs_<key>`` and ``state``, parameters and attributes sorted by name as Optuna sorts
them. This module writes the same columns from a kubetune study record, so that code keeps
working (``tests/unit/local/test_dataframe.py`` compares them with Optuna's own);
kubetune's own ``--format csv`` stays as it was. kubetune-only facts come last:
``spec.metrics`` as ``metrics_<name>``, then ``reason``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from kubetune.api.trial import TrialPhase
from kubetune.record import RecordedTrial, StudyRecord

OPTUNA_STATES = {
    TrialPhase.PENDING: "WAITING",
    TrialPhase.RUNNING: "RUNNING",
    TrialPhase.SUCCEEDED: "COMPLETE",
    TrialPhase.FAILED: "FAIL",
    TrialPhase.PRUNED: "PRUNED",
    # Ended because the study ended: a real but partial curve, as algorithms see pruned ones.
    TrialPhase.STOPPED: "PRUNED",
}
"""Optuna's ``TrialState`` name for each kubetune trial phase."""


def dataframe_columns(record: StudyRecord) -> list[str]:
    spec = record.spec
    objectives = spec.objective_list
    values = ["value"] if len(objectives) == 1 else [f"values_{i}" for i in range(len(objectives))]
    attributes = sorted({key for trial in record.trials for key in trial.attributes})
    metrics = [m for m in spec.metrics if m not in {o.metric for o in objectives}]
    return [
        "number",
        *values,
        "datetime_start",
        "datetime_complete",
        "duration",
        *[f"params_{name}" for name in sorted(p.name for p in spec.parameters)],
        *[f"user_attrs_{key}" for key in attributes],
        "state",
        *[f"metrics_{m}" for m in metrics],
        "reason",
    ]


def dataframe_rows(record: StudyRecord) -> list[dict[str, object]]:
    """One row per trial in number (index) order; empty where nothing is known."""
    columns = dataframe_columns(record)
    rows = []
    for trial in record.trials:
        known = _row(record, trial)
        rows.append({column: known.get(column) for column in columns})
    return rows


def _row(record: StudyRecord, trial: RecordedTrial) -> dict[str, object]:
    objectives = record.spec.objective_list
    if len(objectives) == 1:
        values: dict[str, object] = {"value": trial.values.get(objectives[0].metric)}
    else:
        values = {f"values_{i}": trial.values.get(o.metric) for i, o in enumerate(objectives)}
    seconds = trial.seconds
    return {
        "number": trial.index,
        **values,
        "datetime_start": _datetime(trial.start_time),
        "datetime_complete": _datetime(trial.completion_time),
        "duration": None if seconds is None else _timedelta(seconds),
        **{f"params_{k}": v for k, v in trial.params.items()},
        **{f"user_attrs_{k}": v for k, v in trial.attributes.items()},
        "state": OPTUNA_STATES[trial.phase],
        **{f"metrics_{k}": v for k, v in trial.values.items()},
        "reason": trial.reason,
    }


def _datetime(moment: datetime | None) -> str | None:
    """As pandas writes a datetime column: ``2026-01-02 03:04:05.678901``."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _timedelta(seconds: float) -> str:
    """As pandas writes a timedelta column: ``0 days 00:01:02.500000``."""
    delta = timedelta(seconds=seconds)
    hours, rest = divmod(delta.seconds, 3600)
    minutes, whole = divmod(rest, 60)
    return f"{delta.days} days {hours:02d}:{minutes:02d}:{whole:02d}.{delta.microseconds:06d}"


def dataframe_csv(record: StudyRecord, limit: int | None = None) -> str:
    """The CSV of ``dataframe_rows``; ``limit`` keeps the best trials, still in number order."""
    rows = dataframe_rows(record)
    if limit is not None:
        kept = {trial.index for trial in record.ranked()[:limit]}
        rows = [row for row in rows if row["number"] in kept]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=dataframe_columns(record))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
