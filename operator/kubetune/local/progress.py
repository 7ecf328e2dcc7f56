"""What a person sees while a local study runs, and the table of results at the end.

A rich ``Live`` panel redraws a few times a second: trials done/running/failed/pruned, the
best value and its parameters, elapsed time and an ETA from the mean trial duration. Without
a terminal (CI, a pipe) the same facts are printed as one line whenever they change.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from kubetune.api.study import Direction, Objective, TuningStudy
from kubetune.api.trial import TrialPhase
from kubetune.lifecycle import failure_summary
from kubetune.local.backend import StudyView
from kubetune.local.store import LocalTrial, StudyStore


def duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def eta_seconds(view: StudyView) -> float | None:
    """Mean duration of finished trials × trials left ÷ parallelism."""
    durations = [
        t.completion_time - t.start_time
        for t in view.trials
        if t.phase.is_finished() and t.start_time and t.completion_time
    ]
    if not durations:
        return None
    budget = view.study.spec.budget
    left = budget.max_trials - view.summary.finished
    return statistics.fmean(durations) * left / max(1, min(budget.parallel_trials, left or 1))


def status_line(view: StudyView) -> str:
    """One line of progress; the elapsed time comes last so a caller can ignore it when
    deciding whether anything changed. The latest failure is quoted, so a piped run shows
    why trials fail, not only how many."""
    counts = view.summary.counts
    best = "-" if view.summary.best_index is None else _best_text(view)
    eta = eta_seconds(view)
    failure = f" | last failure: {view.recent_failures[-1]}" if view.recent_failures else ""
    return (
        f"{view.study.metadata.name}: {view.summary.finished}/{view.study.spec.budget.max_trials}"
        f" done, {counts[TrialPhase.RUNNING]} running, {counts[TrialPhase.FAILED]} failed,"
        f" {counts[TrialPhase.PRUNED]} pruned{_saved(view)} | best {best}{failure}"
        f" | {duration(view.elapsed_seconds)}"
        + (f" (ETA {duration(eta)})" if eta is not None and view.ending is None else "")
    )


def panel(view: StudyView) -> Group:
    spec = view.study.spec
    summary = view.summary
    bar = ProgressBar(total=spec.budget.max_trials, completed=summary.finished, width=40)
    counts = summary.counts
    header = Text.assemble(
        (f"{view.study.metadata.name}", "bold"),
        f"  {spec.algorithm.name}  ",
        (f"{summary.finished}/{spec.budget.max_trials}", "bold"),
        " done  ",
        (f"{counts[TrialPhase.RUNNING]} running", "cyan"),
        "  ",
        (f"{counts[TrialPhase.FAILED]} failed", "red" if counts[TrialPhase.FAILED] else ""),
        f"  {counts[TrialPhase.PRUNED]} pruned{_saved(view)}",
    )
    eta = eta_seconds(view)
    timing = Text(
        f"elapsed {duration(view.elapsed_seconds)}"
        + (f"   ETA {duration(eta)}" if eta is not None and view.ending is None else "")
    )
    best = Text("best: " + (_best_text(view) if summary.best_index is not None else "-"))
    grid = Table.grid()
    for row in (header, bar, timing, best):
        grid.add_row(row)
    for failure in view.recent_failures:
        grid.add_row(Text(f"! {failure}", style="red"))
    return Group(grid)


def _saved(view: StudyView) -> str:
    steps = view.summary.saved_steps
    return f" (saved {steps} steps)" if steps else ""


def _best_text(view: StudyView) -> str:
    objective = view.study.spec.objective_list[0]
    best = next(t for t in view.trials if t.index == view.summary.best_index)
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    value = view.summary.best_values[objective.metric]
    return f"{objective.metric}={value:.6g} (trial {best.index}: {params})"


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# -- results --------------------------------------------------------------------------


def result_rows(
    trials: Sequence[LocalTrial], store: StudyStore, objectives: Sequence[Objective]
) -> list[dict[str, Any]]:
    """One row per trial, best first (finished with a value, then the rest by index)."""
    rows = []
    for trial in trials:
        values = store.metrics(trial.index).values
        rows.append(
            {
                "trial": trial.index,
                "phase": trial.phase.value,
                **{o.metric: values.get(o.metric) for o in objectives},
                **{f"params.{k}": v for k, v in trial.params.items()},
                "seconds": _seconds(trial),
                "reason": trial.reason or "",
                "message": _failure_text(trial),
            }
        )
    first = objectives[0]

    def order(row: dict[str, Any]) -> tuple[int, float, int]:
        value = row[first.metric]
        if row["phase"] != TrialPhase.SUCCEEDED.value or value is None:
            return (1, 0.0, row["trial"])
        return (0, -value if first.direction is Direction.MAXIMIZE else value, row["trial"])

    return sorted(rows, key=order)


def _failure_text(trial: LocalTrial) -> str:
    """Why a failed trial failed, in a line: its last meaningful output, not a header."""
    if trial.phase is not TrialPhase.FAILED or not trial.message:
        return ""
    return failure_summary(trial.message)


def _seconds(trial: LocalTrial) -> float | None:
    if trial.start_time is None or trial.completion_time is None:
        return None
    return round(trial.completion_time - trial.start_time, 2)


def render_results(rows: list[dict[str, Any]], fmt: str, limit: int | None) -> str | Table:
    shown = rows if limit is None else rows[:limit]
    if fmt == "json":
        return json.dumps(shown, indent=2)
    columns = sorted({key for row in rows for key in row}, key=_column_order(rows))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(shown)
        return out.getvalue()
    table = Table(title=f"top {len(shown)} of {len(rows)} trials")
    for column in columns:
        table.add_column(column, justify="left" if column in _TEXT_COLUMNS else "right")
    for row in shown:
        table.add_row(*("" if row.get(c) is None else _fmt(row.get(c)) for c in columns))
    return table


_TEXT_COLUMNS = ("phase", "message")
"""Columns of words, left-aligned; numbers align right."""


def _column_order(rows: list[dict[str, Any]]) -> Any:
    first = list(rows[0]) if rows else []
    return lambda c: first.index(c) if c in first else len(first)


def best_parameters(study: TuningStudy, view: StudyView) -> str:
    if view.summary.best_index is None:
        return "no trial succeeded"
    best = next(t for t in view.trials if t.index == view.summary.best_index)
    lines = [f"best trial: {study.metadata.name}-{best.index}"]
    lines += [f"  {k}: {v}" for k, v in view.summary.best_values.items()]
    lines += ["best parameters:"] + [f"  {k}: {v}" for k, v in best.params.items()]
    return "\n".join(lines)


def console() -> Console:
    return Console(highlight=False)
