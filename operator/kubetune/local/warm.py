"""Load ``spec.warmStart`` for ``kubetune run``: earlier local studies and a results file.

Earlier studies are read through the same reader as ``kubetune results`` (their succeeded
trials become past trials); a file is read relative to the study file. What fits the new
search space is decided by the pure ``kubetune.warmstart``; this module only reads, and
turns every problem into a ``FieldError`` naming the field and the fix.
"""

from __future__ import annotations

from pathlib import Path

from kubetune.api.study import StudySpec, TuningStudy
from kubetune.api.trial import TrialPhase
from kubetune.local.reader import read_local_study
from kubetune.record import RecordUnavailable
from kubetune.space import SearchSpace
from kubetune.validation import FieldError, InvalidStudy
from kubetune.warmstart import (
    NO_WARM_START,
    InvalidResults,
    PastTrial,
    ResultsFormat,
    WarmStart,
    match,
    read_results,
    unmatched_parameters,
)

STUDIES_FIELD = "spec.warmStart.studies"
FILE_FIELD = "spec.warmStart.file"
CONFIG_MAP_FIELD = "spec.warmStart.configMap"
CONFIG_MAP_REFUSED = (
    "a ConfigMap is read by the operator on a cluster; with kubetune run, name the results "
    "file itself in spec.warmStart.file"
)


def load_warm_start(study: TuningStudy, state_dir: Path, study_dir: Path) -> WarmStart:
    """The warm-start trials of ``study``; ``InvalidStudy`` naming every source that fails."""
    warm = study.spec.warm_start
    if warm is None:
        return NO_WARM_START
    past: list[PastTrial] = []
    errors: list[FieldError] = []
    for i, name in enumerate(warm.studies):
        try:
            past += _study_trials(study, name, state_dir)
        except _Refused as error:
            errors.append(FieldError(f"{STUDIES_FIELD}[{i}]", str(error)))
    if warm.file is not None:
        try:
            past += _file_trials(study.spec, study_dir / warm.file)
        except _Refused as error:
            errors.append(FieldError(FILE_FIELD, str(error)))
    if warm.config_map is not None:
        errors.append(FieldError(CONFIG_MAP_FIELD, CONFIG_MAP_REFUSED))
    if errors:
        raise InvalidStudy(errors)
    return match(past, SearchSpace.from_specs(study.spec.parameters), study.spec.objective_list)


class _Refused(Exception):
    """One warm-start source that cannot be used; the message says why."""


def _study_trials(study: TuningStudy, name: str, state_dir: Path) -> list[PastTrial]:
    if name == study.metadata.name:
        raise _Refused("a study cannot warm-start from itself; name an earlier study")
    try:
        record = read_local_study(state_dir, name)
    except RecordUnavailable as error:
        raise _Refused(str(error)) from None
    source = [p.name for p in record.spec.parameters]
    problem = unmatched_parameters(source, study.spec)
    if problem is not None:
        raise _Refused(f"study {name!r} {problem}")
    return [PastTrial(t.params, t.values) for t in record.trials if t.phase is TrialPhase.SUCCEEDED]


def _file_trials(spec: StudySpec, path: Path) -> list[PastTrial]:
    fmt = ResultsFormat.of(path.name)
    if fmt is None:
        raise _Refused(f"{path}: name a results file .csv or .json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Refused(
            f"{path} does not exist; the path is relative to the study file's folder"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _Refused(f"cannot read {path}: {error}") from None
    try:
        return read_results(text, fmt, spec)
    except InvalidResults as error:
        raise _Refused(f"{path}: {error}") from None
