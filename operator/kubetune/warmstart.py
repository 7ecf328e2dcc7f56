"""Warm start: earlier results turned into history the algorithm starts from.

``spec.warmStart`` names earlier studies and/or a results file. The backends read them (the
local state dir, a file, a cluster's Trials) into ``PastTrial``s; this module parses results
files and matches past trials to the study's search space, and the engine prepends the
matched ones to every ``History`` as completed trials. Pure: no I/O.

Warm trials get indices -1, -2, ... so they can never collide with the study's own trials
(``<study>-<index>``, index >= 0); they are not counted against ``maxTrials``, never end
the study (goal target) and never become its best trial — the study's results are its own.
"""

from __future__ import annotations

import csv
import enum
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubetune.api.study import Objective, StudySpec
from kubetune.history import TrialRecord, TrialState, objective_losses
from kubetune.space import Parameter, ParameterKind, SearchSpace, Value

PARAM_PREFIXES = ("params.", "params_")
"""How a results file names parameter columns: kubetune's CSV and Optuna's dataframe."""
VALUE_COLUMN = "value"
"""Optuna's column for a single objective's value."""
VALUES_PREFIX = "values_"
"""Optuna's columns for several objectives' values, in objective order."""
CONFIG_MAP_LIMIT_BYTES = 1024 * 1024
"""The most a ConfigMap can hold (the API server refuses larger ones)."""
STATE_COLUMNS = ("state", "phase")
"""A row with one of these columns is used only when it says the trial completed."""
COMPLETE_STATES = frozenset({"complete", "succeeded"})


class ResultsFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"

    @classmethod
    def of(cls, filename: str) -> ResultsFormat | None:
        suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        return next((f for f in cls if f.value == suffix), None)


class InvalidResults(ValueError):
    """A results file kubetune cannot read; the message says where and what to fix."""


def results_format(name: str) -> ResultsFormat:
    """The format a results file's name (or ConfigMap key) says, or ``InvalidResults``."""
    fmt = ResultsFormat.of(name)
    if fmt is None:
        raise InvalidResults(f"{name!r} must end in .csv or .json, the format of the results")
    return fmt


@dataclass(frozen=True)
class PastTrial:
    """A finished trial of an earlier study or a results file, before matching."""

    params: Mapping[str, object]
    values: Mapping[str, float]


@dataclass(frozen=True)
class WarmStart:
    """Past trials that fit the study, as history records, and why others were left out."""

    trials: tuple[TrialRecord, ...] = ()
    dropped: Mapping[str, int] = field(default_factory=dict)
    """How many past trials were left out, by reason."""

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def describe(self) -> str:
        """One line for people: how many warm trials, how many dropped and why."""
        text = f"{len(self.trials)} warm-start trial(s)"
        if self.dropped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items()))
            text += f", {self.dropped_total} dropped ({reasons})"
        return text


NO_WARM_START = WarmStart()


def parse_results(
    text: str, fmt: ResultsFormat, objectives: Sequence[Objective]
) -> list[PastTrial]:
    """The rows of a results file (kubetune's or Optuna's columns) as past trials.

    Rows that say they did not complete, or have no value for an objective, are skipped;
    a file without parameter columns or objective columns, or with a value that is not a
    number, is refused.
    """
    rows = _csv_rows(text) if fmt is ResultsFormat.CSV else _json_rows(text)
    if not rows:
        return []
    columns = {column for row in rows for column in row}
    if not any(c.startswith(PARAM_PREFIXES) for c in columns):
        raise InvalidResults(
            f"no parameter columns: name them params.NAME or params_NAME (found {sorted(columns)})"
        )
    value_columns = _value_columns(columns, objectives)
    trials = []
    for number, row in enumerate(rows, start=1):
        state = next((row[c] for c in STATE_COLUMNS if row.get(c) not in (None, "")), None)
        if state is not None and str(state).lower() not in COMPLETE_STATES:
            continue
        values = _row_values(row, value_columns, number)
        if values is None:
            continue
        params = {
            name.split(".", 1)[-1] if name.startswith("params.") else name[len("params_") :]: v
            for name, v in row.items()
            if name.startswith(PARAM_PREFIXES) and v not in (None, "")
        }
        trials.append(PastTrial(params, values))
    return trials


def _csv_rows(text: str) -> list[dict[str, object]]:
    try:
        return [dict(row) for row in csv.DictReader(text.splitlines())]
    except csv.Error as error:
        raise InvalidResults(f"not a CSV file: {error}") from None


def _json_rows(text: str) -> list[dict[str, object]]:
    """A list of objects: flat rows (params.NAME / params_NAME and metric keys), or objects
    with ``params`` and ``values`` maps."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidResults(f"not a JSON file: {error}") from None
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise InvalidResults("a JSON results file must be a list of objects, one per trial")
    rows = []
    for row in data:
        flat = {k: v for k, v in row.items() if k not in ("params", "values")}
        if isinstance(row.get("params"), dict):
            flat |= {f"params.{k}": v for k, v in row["params"].items()}
        if isinstance(row.get("values"), dict):
            flat |= row["values"]
        rows.append(flat)
    return rows


def _value_columns(columns: set[str], objectives: Sequence[Objective]) -> dict[str, str]:
    """Which column holds each objective: its metric's name, else Optuna's value/values_i."""
    found = {}
    for i, objective in enumerate(objectives):
        candidates = [objective.metric, f"{VALUES_PREFIX}{i}"]
        if len(objectives) == 1:
            candidates.append(VALUE_COLUMN)
        column = next((c for c in candidates if c in columns), None)
        if column is None:
            raise InvalidResults(
                f"no column for objective {objective.metric!r}: name it {objective.metric}"
                + (f" or {VALUE_COLUMN}" if len(objectives) == 1 else f" or {VALUES_PREFIX}{i}")
                + f" (found {sorted(columns)})"
            )
        found[objective.metric] = column
    return found


def _row_values(
    row: Mapping[str, object], columns: Mapping[str, str], number: int
) -> dict[str, float] | None:
    values = {}
    for metric, column in columns.items():
        raw = row.get(column)
        if raw is None or raw == "":
            return None
        try:
            value = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidResults(
                f"row {number}, column {column!r}: {raw!r} is not a number"
            ) from None
        values[metric] = value
    return values


def match(
    past: Sequence[PastTrial], space: SearchSpace, objectives: Sequence[Objective]
) -> WarmStart:
    """The past trials that fit ``space`` and have every objective, as completed records
    with indices -1, -2, ...; the others counted by why they were left out."""
    kept: list[TrialRecord] = []
    dropped: Counter[str] = Counter()
    for trial in past:
        params, why = _fit(trial.params, space)
        if why is None and objective_losses(trial.values, objectives) is None:
            why = "without a finite objective value"
        if why is not None:
            dropped[why] += 1
            continue
        index = -(len(kept) + 1)
        kept.append(TrialRecord(index, params, TrialState.COMPLETE, dict(trial.values)))
    return WarmStart(tuple(kept), dict(dropped))


def _fit(params: Mapping[str, object], space: SearchSpace) -> tuple[dict[str, Value], str | None]:
    """The parameters typed for ``space`` and limited to the active ones, or why they do not fit."""
    typed: dict[str, Value] = {}
    for name, raw in params.items():
        if name not in space.names:
            continue  # a parameter this study does not have: matched by name, the rest ignored
        value = _typed(space[name], raw)
        if value is None:
            return {}, "of the wrong type"
        typed[name] = value
    active = {n: v for n, v in typed.items() if space.is_active(space[n], typed)}
    problems = space.errors(active)
    if any("missing" in p for p in problems):
        return {}, "missing a parameter"
    if problems:
        return {}, "outside the search space"
    return active, None


def _typed(parameter: Parameter, raw: object) -> Value | None:
    """A file's value as the parameter's type (CSV holds text), or None if it cannot be.

    A value that is not one of a categorical's choices is returned as it is, so matching
    counts it as outside the space.
    """
    if parameter.is_categorical:
        for choice in parameter.choices:
            if raw == choice or (isinstance(raw, str) and raw == str(choice)):
                return choice
        return raw if isinstance(raw, str | int | float) else None
    if isinstance(raw, bool):
        return None
    try:
        number = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if parameter.kind is ParameterKind.INT and number.is_integer():
        return int(number)
    return number


def read_results(text: str, fmt: ResultsFormat, spec: StudySpec) -> list[PastTrial]:
    """A results file's trials for ``spec``: what ``spec.warmStart.file`` and
    ``spec.warmStart.configMap`` hold, parsed the same way for both backends.

    ``InvalidResults`` when it cannot be read or shares no parameter with the study.
    """
    past = parse_results(text, fmt, spec.objective_list)
    names = sorted({name for trial in past for name in trial.params})
    problem = unmatched_parameters(names, spec)
    if problem is not None:
        raise InvalidResults(problem)
    return past


def results_config_map(
    text: str, name: str, key: str, namespace: str | None = None
) -> dict[str, object]:
    """The ConfigMap that carries a results file to a cluster for ``spec.warmStart.configMap``.

    ``InvalidResults`` when ``key`` does not say the format, or the text is too big for a
    ConfigMap; the text is kept as it is (the operator parses it as ``kubetune run`` would).
    """
    results_format(key)
    size = len(text.encode("utf-8"))
    if size > CONFIG_MAP_LIMIT_BYTES:
        raise InvalidResults(
            f"{size} bytes: a ConfigMap holds at most {CONFIG_MAP_LIMIT_BYTES} bytes; keep "
            "fewer trials (the best ones, e.g. kubetune results --format csv) or fewer columns"
        )
    metadata: dict[str, object] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {key: text}}


def unmatched_parameters(source: Sequence[str], spec: StudySpec) -> str | None:
    """Why a source shares no parameter with the study (then nothing could match), or None."""
    own = [p.name for p in spec.parameters]
    if any(name in own for name in source):
        return None
    if not source:
        return "holds no completed trial with parameters"
    return (
        f"has parameters {sorted(source)}, none of which is a parameter of this study "
        f"({own}); warm start matches parameters by name"
    )
