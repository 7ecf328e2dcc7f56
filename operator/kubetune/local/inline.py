"""The runner's job done inside ``kubetune run``: a wrapped trial's program is its only process.

On a cluster ``kubetune-runner [options] -- CMD`` is a process beside the program: it copies the
program's output, reports the metrics it prints and ends it when the trial is told to stop.
Locally that second Python process per trial was most of what orchestration cost (its start-up
alone, ~50 ms a trial; docs/benchmarks.md, local overhead). So ``kubetune run`` starts CMD
itself and does the wrapper's work with the runner's own code: the options are read by
``kubetune_runner.cli.parse_options``, and a thread per trial copies stdout into the trial's
log through ``copy_and_parse``, reporting each line with ``LineReporter`` into the same
``metrics.jsonl`` through the same ``LocalTransport``. Reports, log and verdict are the ones the
wrapper would have produced.

Where it differs from the wrapper process, locally only:

- a trial asked to stop is ended by the backend at once (SIGTERM, SIGKILL after the backend's
  grace) instead of by the wrapper within a second of the stop file; the stop file is still
  written, for programs that call ``should_stop()``;
- a program that cannot be started fails its trial as ``StartError`` (the wrapper exits 127);
- a killed ``kubetune run`` leaves the program alone, not the program and a wrapper; its
  environment carries the trial's directory, so the next run kills it all the same.

Options the backend does not take over (``--metrics-file``), arguments the wrapper would
refuse, or no ``kubetune_runner`` installed: the command runs as written (``fast_runner``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

RUNNER_COMMAND = "kubetune-runner"
RUNNER_PACKAGE = "kubetune_runner"


@dataclass(frozen=True)
class InlineRun:
    """A ``kubetune-runner`` command the backend runs without the wrapper process."""

    command: list[str]
    """The program and its arguments (what follows ``--``)."""
    parse: bool
    """Whether stdout is read for metrics (not with ``--no-parse``)."""
    names: set[str] | None
    """``--metrics``: the only names reported; None: every name."""


@functools.cache
def runner_installed() -> bool:
    """Whether ``kubetune_runner`` can be imported here (it is not a kubetune dependency)."""
    return importlib.util.find_spec(RUNNER_PACKAGE) is not None


def inline_run(argv: Sequence[str]) -> InlineRun | None:
    """``kubetune-runner ARGS`` as an :class:`InlineRun`; None for any other command and
    where only the wrapper process can do the job (see the module docstring)."""
    if not argv or argv[0] != RUNNER_COMMAND or not runner_installed():
        return None
    from kubetune_runner.cli import OptionsRefused, metric_names, parse_options

    try:
        args = parse_options(argv[1:])
    except OptionsRefused:
        return None  # the wrapper says why in the trial's log
    if args.metrics_file is not None:
        return None
    return InlineRun(args.command, not args.no_parse, metric_names(args.metrics))


class OutputPump:
    """Copies a program's stdout into its log and reports the metrics of each line.

    Runs on a thread of its own with its own copy of the log's descriptor, so the log may be
    closed before a background process of the program lets go of stdout. ``done_fd`` becomes
    readable once the output has ended, for the backend's wait.
    """

    def __init__(
        self,
        source: IO[bytes],
        log: IO[bytes],
        trial_dir: Path,
        run: InlineRun,
        objectives: list[str],
    ) -> None:
        from kubetune_runner._local import LocalTransport
        from kubetune_runner._log import PREFIX
        from kubetune_runner.cli import OUTPUT_DRAIN_SECONDS, LineReporter

        self.drain_seconds = OUTPUT_DRAIN_SECONDS
        """After the program exits, how long its output may take to end (a background process
        of the program may hold stdout) before the trial is judged without the rest: the
        wrapper's own limit."""
        self._prefix = PREFIX
        self._source = source
        self._sink = os.dup(log.fileno())
        self._report = LineReporter(
            LocalTransport(str(trial_dir), objectives, warn=self._warn), run.names, self._warn
        )
        self.done_fd, self._done_w = os.pipe()
        self.finished = False
        """Set before ``done_fd`` becomes readable: everything the program printed is in the
        log and every report it made is in ``metrics.jsonl``."""
        self._closed = False
        self._thread = threading.Thread(target=self._pump, name="kubetune-output", daemon=True)
        self._thread.start()

    def drained(self, since_exit: float) -> bool:
        """Whether to judge the trial now, ``since_exit`` seconds after its program exited:
        its output ended, or waiting longer is not worth it."""
        return self.finished or since_exit >= self.drain_seconds

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            os.close(self.done_fd)

    def _pump(self) -> None:
        from kubetune_runner.cli import copy_and_parse

        try:
            copy_and_parse(self._source.fileno(), self._sink, self._report)
        finally:
            self._source.close()
            os.close(self._sink)
            self.finished = True
            os.close(self._done_w)

    def _warn(self, message: str) -> None:
        """Where the wrapper's warnings went: the trial's log, in the wrapper's words."""
        with contextlib.suppress(OSError):  # one short O_APPEND write: all or nothing
            os.write(self._sink, f"{self._prefix}{message}\n".encode())
