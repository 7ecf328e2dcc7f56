"""``kubetune-runner [options] -- CMD ARGS...``: make any training program a kubetune trial.

The wrapper runs CMD as a child in its own process group. The child's stderr is inherited
and its stdout is copied through chunk by chunk, so the program's output reaches the logs
byte for byte and without delay, unlike metrics collectors that redirect it to a file. Each
stdout line is also parsed for metrics (``_parse``) and reported. Meanwhile the wrapper asks
``should_stop()`` and, when the trial is to end, terminates the child's process group and
exits 0: the operator, not the exit code, records that the trial was stopped.

``kubetune run`` does this job in its own process for a local trial (no second Python process
per trial): it reads the same options (:func:`parse_options`) and reports each line through
the same :class:`LineReporter` and :func:`copy_and_parse`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import IO, Callable, NoReturn

from kubetune_runner import __version__, _metrics_file
from kubetune_runner._api import Transport, current_transport
from kubetune_runner._env import ConfigurationError
from kubetune_runner._log import warn
from kubetune_runner._parse import STEP_KEYS, parse_line

CHUNK_BYTES = 65536
MAX_PARSED_LINE_BYTES = 65536
"""Longer lines pass through but are not parsed (no one prints metrics that way)."""
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
DEFAULT_GRACE_SECONDS = 30.0
"""``--grace-seconds``: how long a program told to stop gets between SIGTERM and SIGKILL."""
EXIT_UNDELIVERED = 75
"""The program exited 0, but its last reports reached neither the Trial (within the delivery
timeout) nor the termination message: the operator records ``MetricsUndelivered`` rather
than scoring the trial from what arrived earlier. (75 is sysexits' EX_TEMPFAIL.)"""
WARNED_LINE_CHARS = 200
"""How much of a printed line a warning about it quotes."""
OUTPUT_DRAIN_SECONDS = 5.0
"""After the child exits, how long to wait for its background processes to close stdout."""

EPILOG = f"""\
metrics on stdout (both formats; other lines are only printed):
  name=value pairs     epoch=3 val_accuracy=0.91, loss=0.2; lr=1e-3 model=resnet50
                       (every pair with a number is reported, words are skipped; a value
                       like 'loss=0.5abc' is warned about on stderr, once per name;
                       'loss=nan' is reported as not finite and fails the trial if it is
                       the objective's last report)
  JSON objects         {{"step": 3, "val_accuracy": 0.91}}   (non-numeric fields ignored)
  The step comes from {", ".join(STEP_KEYS)} (first found); these are not metrics.

environment (set by the operator or `kubetune run`):
  KUBETUNE_LOCAL_DIR                local mode: append to $DIR/metrics.jsonl, stop on $DIR/stop
  KUBETUNE_TRIAL, KUBETUNE_NAMESPACE, KUBERNETES_SERVICE_HOST/PORT
                                    cluster mode: patch the Trial's status with the pod's
                                    service account (KUBETUNE_SERVICEACCOUNT_DIR overrides
                                    /var/run/secrets/kubernetes.io/serviceaccount)
  KUBETUNE_OBJECTIVE                JSON list of {{"metric", "direction"}}; its best point
                                    survives downsampling of intermediate values
  KUBETUNE_PARAMS                   the trial's parameters as JSON (for the program)
  KUBETUNE_DELIVERY_TIMEOUT_SECONDS cluster mode: how long exit keeps retrying undelivered
                                    reports (default 300; the final values are also written
                                    to the termination message first)
  KUBETUNE_TERMINATION_MESSAGE_PATH where the termination message goes
                                    (default /dev/termination-log)

exit status: the program's (128+N if signal N killed it); 0 if the trial was asked to
stop and the program was ended for it; 2 if the environment names no transport; 126/127 if
CMD cannot be run; {EXIT_UNDELIVERED} if the program exited 0 but its last reports could be
delivered neither to the Trial nor as the termination message. SIGTERM, SIGINT and SIGHUP
are forwarded to the program's process group.
If the program calls report() itself, use --no-parse so that only one writer reports.
"""


def build_parser(
    parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="kubetune-runner",
        usage="%(prog)s [options] -- CMD [ARGS...]",
        description="Run a training program as a kubetune trial: pass its output through "
        "unchanged, report the metrics it prints, end it when the trial is told to stop.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--metrics",
        metavar="NAME,NAME",
        help="report only these metric names (default: every numeric name)",
    )
    parser.add_argument(
        "--no-parse",
        action="store_true",
        help="do not parse stdout (the program calls kubetune_runner.report() itself)",
    )
    parser.add_argument(
        "--metrics-file",
        metavar="PATH",
        help="report the metrics the program writes to this file instead of stdout "
        "(Katib's File collector), followed while it runs",
    )
    parser.add_argument(
        "--metrics-format",
        choices=_metrics_file.FORMATS,
        default=_metrics_file.TEXT,
        help="of --metrics-file: TEXT (name=value) or JSON (one object per line)",
    )
    parser.add_argument(
        "--stop-poll-seconds",
        type=_positive,
        metavar="S",
        help="how often to ask whether the trial should stop (default: 5 in a cluster, "
        "1 in local mode)",
    )
    parser.add_argument(
        "--grace-seconds",
        type=_positive,
        default=DEFAULT_GRACE_SECONDS,
        metavar="S",
        help="after SIGTERM on stop, wait this long before SIGKILL (default: %(default)s)",
    )
    parser.add_argument(
        "--flush-seconds",
        type=_positive,
        metavar="S",
        help="at exit, keep delivering reports at most this long (default: "
        "KUBETUNE_DELIVERY_TIMEOUT_SECONDS, else 300)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


class OptionsRefused(ValueError):
    """The wrapper's arguments are not valid (the wrapper itself would print its usage)."""


class _QuietParser(argparse.ArgumentParser):
    """Raises where the wrapper's parser would print and exit (errors, --help, --version)."""

    def error(self, message: str) -> NoReturn:
        raise OptionsRefused(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise OptionsRefused(message or f"exits with {status}")

    def _print_message(self, message: str, file: IO[str] | None = None) -> None:
        pass


@functools.cache
def _quiet_parser() -> argparse.ArgumentParser:
    """Built once: a host parses the options of every trial it starts."""
    return build_parser(_QuietParser)


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    """The wrapper's options and ``command`` (without the ``--``), for a process that does
    the wrapper's job itself; raises :class:`OptionsRefused` where the wrapper would exit."""
    args = _quiet_parser().parse_args(argv)
    args.command = _program(args.command)
    if not args.command:
        raise OptionsRefused("no command given")
    return args


def metric_names(text: str | None) -> set[str] | None:
    """``--metrics a,b``: the only names to report; None (no option): every name."""
    return {name.strip() for name in text.split(",")} if text else None


def _program(command: list[str]) -> list[str]:
    """The program to run: what follows the wrapper's options, less a leading ``--``."""
    return command[1:] if command and command[0] == "--" else command


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = _program(args.command)
    if not command:
        parser.error("no command given: kubetune-runner [options] -- CMD [ARGS...]")
    try:
        transport = current_transport()
    except ConfigurationError as error:
        warn(str(error))
        return 2
    names = metric_names(args.metrics)
    wrapper = Wrapper(
        transport,
        command,
        parse=not args.no_parse and args.metrics_file is None,
        names=names,
        stop_poll_seconds=args.stop_poll_seconds or transport.stop_poll_seconds,
        grace_seconds=args.grace_seconds,
    )
    code = 1  # if the wrapper itself fails, the program did not end well
    try:
        with _metrics_file.follow(args.metrics_file, args.metrics_format, transport.record, names):
            code = wrapper.run()
    finally:
        code = _finish(transport, code, args.flush_seconds)
    return code


def _finish(transport: Transport, code: int, flush_seconds: float | None) -> int:
    """Deliver what is left; a program that ended well but whose last reports reached
    neither the Trial nor the termination message exits ``EXIT_UNDELIVERED``."""
    timeout = transport.delivery_timeout_seconds if flush_seconds is None else flush_seconds
    if transport.close(timeout, hand_over=code == 0):
        return code
    if code != 0:
        warn(f"some reports were not delivered within {timeout:g}s")
        return code
    warn(
        f"the program ended well but its last reports were not delivered within {timeout:g}s "
        f"and could not be written as the termination message: exiting {EXIT_UNDELIVERED}"
    )
    return EXIT_UNDELIVERED


class Wrapper:
    def __init__(
        self,
        transport: Transport,
        command: list[str],
        parse: bool,
        names: set[str] | None,
        stop_poll_seconds: float,
        grace_seconds: float,
    ) -> None:
        self.transport = transport
        self.command = command
        self.parse = parse
        self.stop_poll_seconds = stop_poll_seconds
        self.grace_seconds = grace_seconds
        self._on_line = LineReporter(transport, names)

    def run(self) -> int:
        try:
            child = subprocess.Popen(
                self.command,
                stdout=subprocess.PIPE if self.parse else None,
                start_new_session=True,  # one group to signal: the program and its workers
            )
        except OSError as error:
            warn(f"cannot run {self.command[0]!r}: {error}")
            return 127 if isinstance(error, FileNotFoundError) else 126
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, lambda signum, _frame: _signal_group(child.pid, signum))
        pump = None
        if child.stdout is not None:
            pump = threading.Thread(
                target=copy_and_parse,
                args=(child.stdout.fileno(), sys.stdout.fileno(), self._on_line),
                name="kubetune-runner-stdout",
                daemon=True,
            )
            pump.start()
        stopped = self._wait(child)
        if pump is not None:
            pump.join(OUTPUT_DRAIN_SECONDS)
        if stopped:
            return 0
        code = child.returncode
        return 128 - code if code < 0 else code

    def _wait(self, child: subprocess.Popen[bytes]) -> bool:
        """Wait for the child to exit; True if it was ended because the trial should stop."""
        exited = _ExitWatch(child)
        try:
            while not exited.within(self.stop_poll_seconds):
                if self._should_stop():
                    self._end(child)
                    return True
            return False
        finally:
            exited.close()

    def _end(self, child: subprocess.Popen[bytes]) -> None:
        warn("the trial was asked to stop: terminating the program")
        _signal_group(child.pid, signal.SIGTERM)
        try:
            child.wait(self.grace_seconds)
        except subprocess.TimeoutExpired:
            warn(f"the program ignored SIGTERM for {self.grace_seconds:g}s: killing it")
            _signal_group(child.pid, signal.SIGKILL)
            child.wait()

    def _should_stop(self) -> bool:
        try:
            return self.transport.should_stop()
        except Exception as error:  # never let a stop check end a running trial
            warn(f"cannot check whether the trial should stop: {error}")
            return False


class LineReporter:
    """Reports the metrics of each line a program prints; warns about what it cannot read.

    Called with every complete line (``copy_and_parse``); ``warn`` says things where the
    program's own errors go (the wrapper's stderr; the trial's log under ``kubetune run``).
    """

    def __init__(
        self,
        transport: Transport,
        names: set[str] | None,
        warn: Callable[[str], None] = warn,
    ) -> None:
        self.transport = transport
        self.names = names
        self.warn = warn
        self._report_failed = False
        self._rejected_names: set[str] = set()

    def __call__(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        parsed = parse_line(text, self.names)
        if parsed is None:
            return
        for pair in parsed.rejected:
            name = pair.split("=", 1)[0]
            if name not in self._rejected_names:  # once per name: a loop prints it every step
                self._rejected_names.add(name)
                self.warn(f"not a number, not reported: {pair} (in line {_quoted(text)})")
        if not parsed.values:
            return
        try:
            self.transport.record(parsed.step, parsed.values)
        except Exception as error:  # the program's output matters more than one report
            if not self._report_failed:
                self.warn(f"cannot report metrics: {error}")
                self._report_failed = True


class _ExitWatch:
    """Notices the child's exit the moment it happens: a pidfd (Linux 5.3+) becomes readable,
    where ``Popen.wait(timeout)`` would poll with sleeps of up to 50 ms. Elsewhere it falls
    back to that polling."""

    def __init__(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        self.fd: int | None = None
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or an old kernel
            self.fd = os.pidfd_open(child.pid)

    def within(self, seconds: float) -> bool:
        """Whether the child exited (and was reaped) within ``seconds``."""
        if self.fd is None:
            try:
                self.child.wait(seconds)
            except subprocess.TimeoutExpired:
                return False
            return True
        readable, _, _ = select.select([self.fd], [], [], seconds)
        if not readable:
            return False
        self.child.wait()
        return True

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


_LINE_END = re.compile(rb"[\r\n]")


def copy_and_parse(source: int, sink: int, on_line: Callable[[bytes], None]) -> None:
    """Copy ``source`` to ``sink`` as bytes arrive; hand each complete line to ``on_line``.

    Copying chunks rather than lines keeps progress bars and prompts without a newline
    visible at once. ``\\r`` ends a line for parsing, so progress-bar updates are seen.
    """
    pending = b""
    overlong = False  # inside a line too long to parse: skip to its end
    sink_open = True
    while True:
        chunk = os.read(source, CHUNK_BYTES)
        if not chunk:
            break
        if sink_open:
            try:
                _write_all(sink, chunk)
            except OSError:  # e.g. our stdout was closed; keep draining the child
                sink_open = False
        pending += chunk
        *lines, pending = _LINE_END.split(pending)
        for line in lines:
            if not overlong:
                on_line(line)
            overlong = False
        if len(pending) > MAX_PARSED_LINE_BYTES:
            pending, overlong = b"", True
    if pending and not overlong:
        on_line(pending)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _quoted(line: str) -> str:
    text = line.strip()
    if len(text) > WARNED_LINE_CHARS:
        text = text[:WARNED_LINE_CHARS] + "…"
    return repr(text)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, signum)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


if __name__ == "__main__":
    sys.exit(main())
