"""Read a local study's state directory (``.kubetune/<study>``) into a study record.

``kubetune results`` and the end of ``kubetune run`` show a local study through this reader,
so they show exactly what a cluster study would show through ``kubetune.kube.reader``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kubetune.api.study import TuningStudy
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.record import RecordedTrial, RecordUnavailable, StudyRecord, study_record


def read_local_study(state_dir: Path, name: str) -> StudyRecord:
    """The record of study ``name`` kept under ``state_dir``, or ``RecordUnavailable``."""
    store = StudyStore(state_dir / name)
    if not store.exists():
        raise RecordUnavailable(_missing(state_dir, name))
    try:
        study = TuningStudy.model_validate(store.load_spec()["manifest"])
    except (ValueError, KeyError, ValidationError) as error:
        raise RecordUnavailable(
            f"{store.root / 'study.json'} is not a study this kubetune can read ({error}); "
            "run the study again with `kubetune run --fresh`"
        ) from None
    trials = [_recorded(trial, store) for trial in store.load_trials()]
    return study_record(name, study.spec, trials, source=str(store.root))


def _recorded(trial: LocalTrial, store: StudyStore) -> RecordedTrial:
    metrics = store.metrics(trial.index)
    start, end = _time(trial.start_time), _time(trial.completion_time)
    seconds = (end - start).total_seconds() if start and end else 0.0
    return RecordedTrial(
        index=trial.index,
        params=trial.params,
        phase=trial.phase,
        attributes=trial.attributes,
        reason=trial.reason,
        message=trial.message,
        values=dict(metrics.values),
        intermediate=metrics.points(),
        budget=trial.budget,
        start_time=start,
        completion_time=end,
        gpu_seconds=len(trial.gpus) * trial.gpu_fraction * seconds,
        exit_code=trial.exit_code,
    )


def _time(epoch_seconds: float | None) -> datetime | None:
    return None if epoch_seconds is None else datetime.fromtimestamp(epoch_seconds, UTC)


def _missing(state_dir: Path, name: str) -> str:
    found = sorted(p.parent.name for p in state_dir.glob("*/study.json"))
    where = f"studies there: {', '.join(found)}" if found else "it holds no studies"
    return (
        f"no local study {name!r} under {state_dir} ({where}); "
        "pass --state-dir, or --cluster for a study on a cluster"
    )
