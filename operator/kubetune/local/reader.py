"""Read a local study's state directory (``.kubetune/<study>``) into a study record.

``kubetune results`` and the end of ``kubetune run`` show a local study through this reader,
so they show exactly what a cluster study would show through ``kubetune.kube.reader``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from kubetune.api.study import TuningStudy
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.record import (
    RecordedTrial,
    RecordUnavailable,
    StudyOverview,
    StudyRecord,
    overview,
    study_record,
)


def read_local_study(state_dir: Path, name: str) -> StudyRecord:
    """The record of study ``name`` kept under ``state_dir``, or ``RecordUnavailable``."""
    store = StudyStore(state_dir / name)
    study = _study(store, state_dir, name)
    trials = [_recorded(trial, store) for trial in store.load_trials()]
    return study_record(name, study.spec, trials, source=str(store.root))


def _study(store: StudyStore, state_dir: Path, name: str) -> TuningStudy:
    if not store.exists():
        raise RecordUnavailable(_missing(state_dir, name))
    try:
        return TuningStudy.model_validate(store.load_spec()["manifest"])
    except (ValueError, KeyError, ValidationError) as error:
        raise RecordUnavailable(
            f"{store.root / 'study.json'} is not a study this kubetune can read ({error}); "
            "run the study again with `kubetune run --fresh`"
        ) from None


FileStamp = tuple[int, int] | None
"""A file's modification time (ns) and size, or None when it is not there."""


class LocalStudyReader:
    """Reads one local study again and again, parsing only the trials whose files changed.

    ``kubetune dashboard`` re-reads a running study every few seconds; parsing all of a
    10,000-trial study's trial.json and metrics.jsonl files each time takes seconds. This
    keeps each trial's record with the stamps of its two files and rebuilds only the trials
    whose stamps moved. The result is what ``read_local_study`` returns.
    """

    def __init__(self, state_dir: Path, name: str) -> None:
        self.state_dir, self.name = state_dir, name
        self.store = StudyStore(state_dir / name)
        self._trials: dict[Path, tuple[tuple[FileStamp, FileStamp], RecordedTrial]] = {}

    def read(self) -> StudyRecord:
        study = _study(self.store, self.state_dir, self.name)
        trials, seen = [], set()
        for path in self.store.trials_dir.glob("*/trial.json"):
            stamps = (_stamp(path), _stamp(path.with_name("metrics.jsonl")))
            cached = self._trials.get(path)
            if cached is None or cached[0] != stamps:
                try:
                    local = LocalTrial.from_json(json.loads(path.read_text()))
                except (OSError, ValueError):  # removed or rewritten under us: next read
                    continue
                # A fresh store: its metrics are read from the start of the file.
                cached = (stamps, _recorded(local, StudyStore(self.store.root)))
                self._trials[path] = cached
            trials.append(cached[1])
            seen.add(path)
        for gone in set(self._trials) - seen:
            del self._trials[gone]
        return study_record(self.name, study.spec, trials, source=str(self.store.root))


def _stamp(path: Path) -> FileStamp:
    try:
        status = path.stat()
    except OSError:
        return None
    return (status.st_mtime_ns, status.st_size)


def list_local_studies(
    state_dir: Path, read: Callable[[str], StudyRecord] | None = None
) -> list[StudyOverview]:
    """Every study kept under ``state_dir`` (each folder holding a study.json), by name.

    ``read`` reads one study by name (default: ``read_local_study``; the dashboard passes its
    incremental readers). A folder whose study cannot be read is left out rather than hiding
    the others; reading it by name says why. A missing ``state_dir`` has no studies.
    """
    read = read or (lambda name: read_local_study(state_dir, name))
    studies = []
    for spec_file in sorted(state_dir.glob("*/study.json")):
        try:
            studies.append(overview(read(spec_file.parent.name)))
        except RecordUnavailable:
            continue
    return studies


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
