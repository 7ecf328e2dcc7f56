"""What a person sees while a local study runs, and the table of results at the end.

A rich ``Live`` panel redraws a few times a second: trials done/running/failed/pruned, the
best value and its parameters, elapsed time and an ETA from the mean trial duration. Without
a terminal (CI, a pipe) the same facts are printed as one line whenever they change.

The results table (also JSON and CSV) renders a study record, so ``kubetune results`` shows
a cluster study (``--cluster``) exactly as it shows a local one.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from typing import Any, Literal

from rich.console import Console, Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from kubetune.api.attributes import LineageAttribute
from kubetune.api.trial import TrialPhase, trial_name
from kubetune.history import feasibility
from kubetune.lifecycle import failure_summary
from kubetune.local.backend import StudyView
from kubetune.local.dataframe import dataframe_csv
from kubetune.record import RecordedTrial, StudyRecord
from kubetune.summary import Summary


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
    eta = eta_seconds(view)
    failure = f" | last failure: {view.recent_failures[-1]}" if view.recent_failures else ""
    return (
        f"{view.study.metadata.name}: {view.summary.finished}/{view.study.spec.budget.max_trials}"
        f" done, {counts[TrialPhase.RUNNING]} running, {counts[TrialPhase.FAILED]} failed,"
        f" {counts[TrialPhase.PRUNED]} pruned{_saved(view)} | {_result_text(view)}{failure}"
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
    best = Text(_result_text(view))
    grid = Table.grid()
    for row in (header, bar, timing, best):
        grid.add_row(row)
    for failure in view.recent_failures:
        grid.add_row(Text(f"! {failure}", style="red"))
    return Group(grid)


def _saved(view: StudyView) -> str:
    steps = view.summary.saved_steps
    return f" (saved {steps} steps)" if steps else ""


def _result_text(view: StudyView) -> str:
    """The best trial so far, or the size of the Pareto front when there are several objectives."""
    if view.summary.front_indices:
        return f"Pareto front: {_trials(view.summary.front_size)}{_hypervolume(view.summary)}"
    return "best -" if view.summary.best_index is None else f"best {_best_text(view)}"


def _best_text(view: StudyView) -> str:
    objective = view.study.spec.objective_list[0]
    best = next(t for t in view.trials if t.index == view.summary.best_index)
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in best.params.items())
    value = view.summary.best_values[objective.metric]
    return f"{objective.metric}={value:.6g} (trial {best.index}: {params})"


def _hypervolume(summary: Summary) -> str:
    volume = summary.hypervolume
    return "" if volume is None else f", hypervolume {volume:.6g}"


def _trials(count: int) -> str:
    return f"{count} trial" if count == 1 else f"{count} trials"


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# -- results --------------------------------------------------------------------------

ResultFormat = Literal["table", "json", "csv", "optuna-csv"]
RESULT_FORMATS: tuple[ResultFormat, ...] = ("table", "json", "csv", "optuna-csv")


def result_columns(record: StudyRecord) -> list[str]:
    """Columns of the results, in this order: trial, phase, (Pareto front), objectives, extra
    metrics, (why infeasible, with constraints), parameters in spec order, attributes,
    duration, reason, message."""
    spec = record.spec
    objectives = [o.metric for o in spec.objective_list]
    attributes = sorted(
        {key for trial in record.trials for key in trial.attributes}, key=_attribute_order
    )
    return [
        "trial",
        "phase",
        *(["pareto"] if spec.is_multi_objective else []),
        *objectives,
        *[m for m in spec.metrics if m not in objectives],
        *(["infeasible"] if spec.constraints else []),
        *[f"params.{p.name}" for p in spec.parameters],
        *[f"attributes.{key}" for key in attributes],
        "seconds",
        *(["gpuSeconds"] if gpu_seconds(record) else []),
        "reason",
        "message",
    ]


_LINEAGE_ORDER = (
    LineageAttribute.MEMBER,
    LineageAttribute.GENERATION,
    LineageAttribute.PARENT,
    LineageAttribute.EXPLOITED,
)


def _attribute_order(key: str) -> tuple[int, str]:
    """A population's lineage first, as one reads it (member, generation, parent,
    exploited), then the other attributes by name."""
    if key in _LINEAGE_ORDER:
        return _LINEAGE_ORDER.index(key), ""
    return len(_LINEAGE_ORDER), key


def gpu_seconds(record: StudyRecord) -> float:
    """GPU time of the whole study: devices (or shares of one) held × seconds, summed."""
    return sum(t.gpu_seconds for t in record.trials)


def result_rows(record: StudyRecord, pareto: bool = False) -> list[dict[str, Any]]:
    """One row per trial, best first (with ``pareto``, only the Pareto front's); every row
    has every column, None where nothing is known (an inactive parameter, a metric never
    reported)."""
    columns = result_columns(record)
    front = set(record.summary.front_indices)
    rows = []
    for trial in record.ranked():
        if pareto and trial.index not in front:
            continue
        known = {
            **trial.values,
            "trial": trial.index,
            "phase": trial.phase.value,
            "pareto": trial.index in front,
            "infeasible": _infeasible(record, trial),
            **{f"params.{k}": v for k, v in trial.params.items()},
            **{f"attributes.{k}": v for k, v in trial.attributes.items()},
            "seconds": None if trial.seconds is None else round(trial.seconds, 2),
            "gpuSeconds": round(trial.gpu_seconds, 2),
            "reason": trial.reason,
            "message": trial.message,
        }
        rows.append({column: known.get(column) for column in columns})
    return rows


def _infeasible(record: StudyRecord, trial: RecordedTrial) -> str | None:
    """Why a succeeded trial breaks the study's constraints; None when it keeps them."""
    if trial.phase is not TrialPhase.SUCCEEDED:
        return None
    return feasibility(trial.values, record.spec.constraints).reason


def render_results(
    record: StudyRecord, fmt: ResultFormat, limit: int | None, pareto: bool = False
) -> str | Table:
    if fmt == "optuna-csv":
        return dataframe_csv(record, limit)
    rows = result_rows(record, pareto)
    shown = rows if limit is None else rows[:limit]
    if fmt == "json":
        return json.dumps(shown, indent=2)
    columns = result_columns(record)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns)
        writer.writeheader()
        writer.writerows(shown)
        return out.getvalue()
    what = "Pareto-front trials" if pareto else "trials"
    table = Table(title=f"top {len(shown)} of {len(rows)} {what}")
    for column in columns:
        table.add_column(column, justify="left" if column in _TEXT_COLUMNS else "right")
    for row in shown:
        table.add_row(*(_cell(column, row[column]) for column in columns))
    return table


_TEXT_COLUMNS = {"phase", "infeasible", "reason", "message"}


def _cell(column: str, value: object) -> str:
    if value is None or value is False:
        return ""
    if column == "pareto":
        return "*"
    if column == "message":
        return failure_summary(str(value))
    return _fmt(value)


def study_result(record: StudyRecord) -> str:
    """The best trial and its parameters, or the Pareto front of a multi-objective study;
    then the study's GPU time when its trials held GPUs."""
    total = gpu_seconds(record)
    if not total:
        return _result(record)
    return f"{_result(record)}\nGPU time: {total:.1f} GPU-seconds ({total / 3600:.2f} GPU-hours)"


def _result(record: StudyRecord) -> str:
    if record.spec.is_multi_objective:
        return _pareto_text(record)
    best = record.best
    if best is None:
        return _nothing_found(record)
    lines = [f"best trial: {trial_name(record.name, best.index)}"]
    lines += [f"  {k}: {v}" for k, v in record.summary.best_values.items()]
    lines += ["best parameters:"] + [f"  {k}: {v}" for k, v in best.params.items()]
    return "\n".join(lines + schedule_lines(record, best))


def schedule_lines(record: StudyRecord, trial: RecordedTrial) -> list[str]:
    """The hyperparameters the trial's weights were trained with, segment by segment (PBT):
    one line per trial of its ancestry, with member, generation, parent, resource and value.
    Empty for a trial that continues none."""
    chain = record.ancestry(trial.index)
    if len(chain) < 2:
        return []
    resource = record.spec.budget.resource
    objective = record.spec.objective_list[0].metric
    lines = [f"schedule of {trial_name(record.name, trial.index)} (segment by segment):"]
    for segment in chain:
        attributes = segment.attributes
        lineage = [f"member {attributes.get(LineageAttribute.MEMBER, '?')}"]
        parent = attributes.get(LineageAttribute.PARENT)
        if parent is not None:
            took = "exploited" if attributes.get(LineageAttribute.EXPLOITED) else "continued"
            lineage.append(f"{took} trial {_fmt(parent)}")
        if resource is not None and segment.budget is not None:
            lineage.append(f"{resource.name} to {_fmt(segment.budget)}")
        value = segment.values.get(objective)
        lineage.append(f"{objective}={'-' if value is None else f'{value:.6g}'}")
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in segment.params.items())
        generation = attributes.get(LineageAttribute.GENERATION, "?")
        lines.append(
            f"  generation {generation}: trial {segment.index} ({', '.join(lineage)}): {params}"
        )
    return lines


def _nothing_found(record: StudyRecord) -> str:
    if record.spec.constraints and record.summary.counts[TrialPhase.SUCCEEDED]:
        return "no feasible trial: every succeeded trial breaks spec.constraints (see infeasible)"
    return "no trial succeeded"


def warm_start_text(record: StudyRecord) -> str | None:
    """Where the study's warm-start trials came from: they fed the algorithm but are not
    among the trials above (nor counted in maxTrials, nor candidates for best)."""
    warm = record.spec.warm_start
    if warm is None:
        return None
    sources = [f"study {name}" for name in warm.studies]
    sources += [f"file {warm.file}"] if warm.file is not None else []
    return (
        f"warm start: trials of {', '.join(sources)} fed the algorithm as known history; "
        "they are not listed or counted here"
    )


def _pareto_text(record: StudyRecord) -> str:
    front = record.pareto_front
    if not front:
        return _nothing_found(record)
    metrics = [o.metric for o in record.spec.objective_list]
    summary = record.summary
    lines = [
        f"Pareto front ({_trials(len(front))} of {summary.feasible} feasible"
        f"{_hypervolume(summary)}; marked * above):"
    ]
    for trial in front:
        values = ", ".join(f"{m}={trial.values[m]:.6g}" for m in metrics)
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
        lines.append(f"  {trial_name(record.name, trial.index)}: {values}  ({params})")
    return "\n".join(lines)


UNWRAPPED_WIDTH = 100_000
"""Console width when output is not a terminal: lines and tables are printed whole, never cut
or wrapped at rich's default of 80 columns (a pipe has no width to fit)."""


def console() -> Console:
    out = Console(highlight=False)
    if not out.is_terminal:
        out.width = UNWRAPPED_WIDTH
    return out
