"""Local mode: the trial directory is the channel to ``kubetune run`` on the same machine.

Each report is one JSON line appended to ``metrics.jsonl`` (``{"step", "values", "time"}``,
plus ``"nonFinite": {"loss": "nan"}`` when a value was NaN or infinite), written with a single
``O_APPEND`` write and fsync'd, so a killed run loses nothing and a wrapper and its program
may both report into the same file. The local backend owns bounding and downsampling; here
we only append. A ``stop`` file in the directory asks the trial to end.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Collection

from kubetune_runner._log import warn
from kubetune_runner._values import MetricNames, split_finite

METRICS_FILE = "metrics.jsonl"
STOP_FILE = "stop"
STOP_POLL_SECONDS = 1.0
"""A file check is cheap, so the wrapper looks for the stop file this often."""


class LocalTransport:
    stop_poll_seconds = STOP_POLL_SECONDS
    delivery_timeout_seconds = 0.0
    """Nothing to wait for at exit: every report is on disk when ``record`` returns."""

    def __init__(
        self,
        directory: str,
        objectives: Collection[str] = (),
        warn: Callable[[str], None] = warn,
    ) -> None:
        self.directory = directory
        self._names = MetricNames(objectives, warn=warn)
        self.metrics_path = os.path.join(directory, METRICS_FILE)
        self.stop_path = os.path.join(directory, STOP_FILE)

    def record(self, step: int | None, values: dict[str, float]) -> None:
        values = self._names.admit(values)
        if not values:
            return
        finite, non_finite = split_finite(values)
        record: dict[str, object] = {"step": step, "values": finite, "time": time.time()}
        if non_finite:
            record["nonFinite"] = non_finite
        line = json.dumps(record) + "\n"
        fd = os.open(self.metrics_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def should_stop(self) -> bool:
        return os.path.exists(self.stop_path)

    def flush(self, timeout: float | None = None) -> bool:
        return True  # every record() is already on disk

    def close(self, timeout: float | None = None, hand_over: bool = False) -> bool:
        return True
