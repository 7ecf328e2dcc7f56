"""Katib's File collector inside kubetune: follow a metrics file the program writes.

Some training programs write their metrics to a file instead of printing them (Katib's
``File`` collector, ``metricsCollectorSpec.source.fileSystemPath``). ``kubetune-runner
--metrics-file PATH -- CMD`` follows that file while the program runs: every complete line
is parsed and reported, polling for new ones, and once more after the program has exited so
the last lines, even one without a newline, count. The file may not exist yet when the
program starts, and may be truncated or replaced (log rotation); it is then read from the
start. Lines already in the file when the runner starts belong to an earlier run (a fresh
pod never has them, but a laptop's working directory does) and are skipped, unless the
program rewrites the file from the start.

Formats are Katib's: ``TEXT`` (``name=value`` pairs, the same as on stdout) and ``JSON`` (one
object per line; numbers may be strings, as Katib writes them; ``timestamp`` is not a metric).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
from collections.abc import Collection, Iterator
from typing import Any, Callable, Optional

from kubetune_runner._log import warn
from kubetune_runner._parse import ParsedReport, parse_line

TEXT = "TEXT"
JSON = "JSON"
FORMATS = (TEXT, JSON)
POLL_SECONDS = 0.5
"""How often the file is checked for new lines while the program runs."""
MAX_LINE_BYTES = 65536
"""Longer lines are skipped, as on stdout."""
PREFIX_BYTES = 4096
"""How much of a file found at start is kept to tell an append from a rewrite."""
NOT_METRICS = ("timestamp",)
"""Fields of Katib's JSON lines that are not metrics."""

Record = Callable[[Optional[int], dict[str, float]], None]


def parse_json_line(line: str, names: Collection[str] | None = None) -> ParsedReport | None:
    """A report from one line of Katib's JSON format; numeric strings count as numbers."""
    try:
        document: Any = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    numbers: dict[str, float] = {}
    for key, value in document.items():
        if key in NOT_METRICS or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(number):
            numbers[str(key)] = number
    return parse_line(json.dumps(numbers), names) if numbers else None


class MetricsFile:
    """Follows one file; ``poll`` reports what was appended since the last call."""

    def __init__(
        self, path: str, file_format: str, record: Record, names: Collection[str] | None
    ) -> None:
        if file_format not in FORMATS:
            raise ValueError(f"--metrics-format must be one of {FORMATS}, got {file_format!r}")
        self.path = path
        self.parse = parse_line if file_format == TEXT else parse_json_line
        self.record = record
        self.names = names
        self._position = 0
        self._identity: tuple[int, int] | None = None
        self._pending = b""
        self._report_failed = False
        self._stale_prefix = b""

    def skip_existing(self) -> None:
        """Treat what the file holds now as an earlier run's, unless it is rewritten."""
        try:
            with open(self.path, "rb") as handle:
                status = os.fstat(handle.fileno())
                self._identity = (status.st_dev, status.st_ino)
                self._stale_prefix = handle.read(PREFIX_BYTES)
                self._position = status.st_size
        except FileNotFoundError:
            pass

    def poll(self, final: bool = False) -> None:
        """Report the complete lines appended since the last poll (and a last partial one)."""
        try:
            with open(self.path, "rb") as handle:
                status = os.fstat(handle.fileno())
                identity = (status.st_dev, status.st_ino)
                if identity != self._identity or status.st_size < self._position:
                    self._restart(identity)  # new, or truncated: read from the start
                elif self._stale_prefix and status.st_size > self._position:
                    appended = handle.read(len(self._stale_prefix)) == self._stale_prefix
                    self._stale_prefix = b""
                    if not appended:  # the earlier run's file was rewritten
                        self._restart(identity)
                handle.seek(self._position)
                data = handle.read()
        except FileNotFoundError:
            return
        self._position += len(data)
        *lines, self._pending = (self._pending + data).split(b"\n")
        if final and self._pending:
            lines.append(self._pending)
            self._pending = b""
        elif len(self._pending) > MAX_LINE_BYTES:
            self._pending = b""
        for line in lines:
            if len(line) <= MAX_LINE_BYTES:
                self._report(line.decode("utf-8", "replace"))

    def _restart(self, identity: tuple[int, int]) -> None:
        self._identity, self._position, self._pending, self._stale_prefix = identity, 0, b"", b""

    def _report(self, line: str) -> None:
        parsed = self.parse(line.strip(), self.names)
        if parsed is None:
            return
        try:
            self.record(parsed.step, parsed.values)
        except Exception as error:  # the training matters more than one report
            if not self._report_failed:
                warn(f"cannot report metrics from {self.path}: {error}")
                self._report_failed = True


@contextlib.contextmanager
def follow(
    path: str | None,
    file_format: str,
    record: Record,
    names: Collection[str] | None,
    poll_seconds: float = POLL_SECONDS,
) -> Iterator[None]:
    """While the block runs, report what the program appends to ``path``; then read the rest.

    With no path this does nothing, so the wrapper can always enter it.
    """
    if path is None:
        yield
        return
    follower = MetricsFile(path, file_format, record, names)
    follower.skip_existing()
    done = threading.Event()

    def loop() -> None:
        while not done.wait(poll_seconds):
            follower.poll()

    thread = threading.Thread(target=loop, name="kubetune-runner-metrics-file", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        follower.poll(final=True)
