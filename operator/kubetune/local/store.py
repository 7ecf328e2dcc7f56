"""On-disk state of a local study, so an interrupted run resumes without repeating a trial.

Layout under ``.kubetune/<study>/``::

    study.json                 the spec the study was started with
    trials/<index>/trial.json  parameters, phase, exit code, times (written atomically)
    trials/<index>/metrics.jsonl  what the runner reported, one JSON object a line
    trials/<index>/output.log  the trial's stdout and stderr
    trials/<index>/stop        exists once the trial is asked to stop
    checkpoints/<trial>/       what the trial saved, when the study keeps checkpoints
                               (``local/checkpoints.py``; deleted once no trial needs it)

The runner appends to ``metrics.jsonl`` and checks for ``stop``; the backend owns the rest.

Files are replaced atomically, so a killed ``kubetune run`` always leaves a whole file; they
reach the disk (fsync) on a thread of their own once the backend calls :meth:`StudyStore.sync`
(once per step, after it has started the step's trials), so neither a successor nor the next
trial's reaping waits for the disk: the fsyncs were ~2.7 ms a step on the backend's loop,
a third of its time at 1,000 trials. :meth:`StudyStore.close` waits for them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kubetune.api.attributes import AttributeValue
from kubetune.api.study import ParameterValue
from kubetune.api.trial import TrialPhase
from kubetune.history import IntermediateValue


@dataclass
class LocalTrial:
    """A trial's record; ``phase`` is Running from launch until its process is reaped."""

    index: int
    params: dict[str, ParameterValue]
    budget: float | None = None
    phase: TrialPhase = TrialPhase.RUNNING
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    start_time: float | None = None
    completion_time: float | None = None
    stop_reason: str | None = None
    stop_pruned: bool = False
    gpus: list[str] = field(default_factory=list)
    gpu_fraction: float = 1.0
    """The share of each device in ``gpus`` the trial held: 1/K of a device shared K ways."""
    pid: int | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    """What the algorithm attached when it suggested the trial; read back on resume."""
    notice: str | None = None
    """A warning from its start (a checkpoint it could not restore), kept for its message."""

    @property
    def stop_requested(self) -> bool:
        return self.stop_reason is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["phase"] = self.phase.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LocalTrial:
        return cls(**{**data, "phase": TrialPhase(data["phase"])})


@dataclass
class Metrics:
    """Reported values of one trial, read incrementally as the runner appends."""

    values: dict[str, float] = field(default_factory=dict)
    """The latest finite value of each metric."""
    non_finite: dict[str, str] = field(default_factory=dict)
    """Metrics whose latest report was NaN or infinite (the runner writes those as text)."""
    intermediate: dict[int, dict[str, float]] = field(default_factory=dict)
    offset: int = 0
    bad_lines: int = 0

    def points(self) -> tuple[IntermediateValue, ...]:
        return tuple(IntermediateValue(s, v) for s, v in sorted(self.intermediate.items()))


class StudyStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.trials_dir = root / "trials"
        self._metrics: dict[int, Metrics] = {}
        self._unsynced: set[Path] = set()
        self._flusher: _Flusher | None = None

    def exists(self) -> bool:
        return (self.root / "study.json").exists()

    def load_spec(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.root / "study.json").read_text())
        return data

    def save_spec(self, manifest: dict[str, Any]) -> None:
        self.trials_dir.mkdir(parents=True, exist_ok=True)
        self._write(self.root / "study.json", manifest)

    def trial_dir(self, index: int) -> Path:
        return self.trials_dir / str(index)

    def save(self, trial: LocalTrial) -> None:
        directory = self.trial_dir(trial.index)
        directory.mkdir(parents=True, exist_ok=True)
        self._write(directory / "trial.json", trial.to_json())

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        _write_atomically(path, data)
        self._unsynced.add(path)

    def sync(self) -> None:
        """Have every file written since the last sync flushed to the disk, without waiting."""
        if not self._unsynced:
            return
        if self._flusher is None:
            self._flusher = _Flusher()
        self._flusher.put(self._unsynced)
        self._unsynced = set()

    def close(self) -> None:
        """Flush what was written, and wait until it is on the disk."""
        self.sync()
        if self._flusher is not None:
            self._flusher.close()
            self._flusher = None

    def load_trials(self) -> list[LocalTrial]:
        if not self.trials_dir.exists():
            return []
        trials = []
        for path in self.trials_dir.glob("*/trial.json"):
            trials.append(LocalTrial.from_json(json.loads(path.read_text())))
        return sorted(trials, key=lambda t: t.index)

    def reset_trial(self, index: int) -> None:
        """Forget a trial's reports before it is run again after an interruption."""
        directory = self.trial_dir(index)
        for name in ("metrics.jsonl", "stop"):
            (directory / name).unlink(missing_ok=True)
        self._metrics.pop(index, None)

    def request_stop(self, index: int) -> None:
        (self.trial_dir(index) / "stop").touch()

    def metrics(self, index: int) -> Metrics:
        """Everything the trial reported so far, reading only what was appended since last time."""
        metrics = self._metrics.setdefault(index, Metrics())
        path = self.trial_dir(index) / "metrics.jsonl"
        try:
            with path.open("rb") as stream:
                stream.seek(metrics.offset)
                chunk = stream.read()
        except FileNotFoundError:
            return metrics
        complete = chunk[: chunk.rfind(b"\n") + 1]  # a half-written last line waits
        metrics.offset += len(complete)
        for line in complete.splitlines():
            _apply(metrics, line)
        return metrics

    def output_tail(self, index: int, lines: int) -> str:
        path = self.trial_dir(index) / "output.log"
        try:
            text = path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _apply(metrics: Metrics, line: bytes) -> None:
    """One line of ``metrics.jsonl``: ``{"step", "values", "nonFinite"?, "time"}``."""
    try:
        record = json.loads(line)
        values = {str(k): float(v) for k, v in record["values"].items()}
        non_finite = {str(k): str(v) for k, v in (record.get("nonFinite") or {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        metrics.bad_lines += 1
        return
    for name, value in list(values.items()):  # a NaN written as a number counts the same
        if not math.isfinite(value):
            non_finite[name] = str(values.pop(name))
    for name in values:
        metrics.non_finite.pop(name, None)
    metrics.non_finite.update(non_finite)
    metrics.values.update(values)
    step = record.get("step")
    if values and isinstance(step, int) and step >= 0:
        metrics.intermediate.setdefault(step, {}).update(values)


class _Flusher:
    """A thread that fsyncs the files it is handed, in the order it gets them."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Collection[Path] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="kubetune-fsync", daemon=True)
        self._thread.start()

    def put(self, paths: Collection[Path]) -> None:
        self._queue.put(paths)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (paths := self._queue.get()) is not None:
            for path in paths:
                _fsync(path)


def _fsync(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(f".tmp{os.getpid()}")
    with temporary.open("w") as stream:
        json.dump(data, stream, indent=1, sort_keys=True)
    os.replace(temporary, path)
