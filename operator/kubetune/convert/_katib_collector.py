"""Katib ``spec.metricsCollectorSpec`` → the options of ``kubetune-runner`` in the command.

Katib injects a sidecar that reads the trial's stdout, a file, TensorFlow events or
Prometheus metrics, or receives pushes. kubetune has the training container's own command
report through ``kubetune-runner``: the primary container's command is wrapped, and the
collector becomes the runner's options (``--metrics-file`` for File, ``--no-parse`` for Push,
whose Python program starts through ``kubetune_runner.katib``); what the runner cannot read
is reported.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubetune.convert.notes import ConversionError, Note, NoteKind

SOURCE = "spec.trialTemplate"
TARGET = "spec.trialTemplate"
RUNNER = "kubetune-runner"
MERGE_STDERR = ["sh", "-c", 'exec "$@" 2>&1', "sh"]
"""Runs the command with its stderr on stdout, where kubetune-runner parses metrics."""
PUSH_OPTIONS = ["--no-parse"]
"""Push: the program reports itself, so the runner only watches for a stop."""
KATIB_SDK = ("-m", "kubetune_runner.katib")
"""Starts a Python program with ``kubeflow.katib.report_metrics`` reporting to kubetune."""
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
KATIB_TEXT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
"""Katib's default metricsFormat: name=value pairs, which kubetune-runner parses as well."""


class CollectorKind(enum.StrEnum):
    STDOUT = "StdOut"
    FILE = "File"
    TENSORFLOW_EVENT = "TensorFlowEvent"
    PROMETHEUS = "PrometheusMetric"
    PUSH = "Push"
    CUSTOM = "Custom"
    NONE = "None"


def wrap_command(
    container: dict[str, Any], collector: Any, metrics: Sequence[str], notes: list[Note]
) -> None:
    """Prefix the primary container's command with kubetune-runner, as the collector asks."""
    options = _runner_options(collector, metrics, notes)
    command = container.get("command")
    source = f"{SOURCE}.trialSpec.spec.template.spec.containers[{container.get('name')}].command"
    if not command:
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                source,
                "no command (the image's entrypoint runs): put the entrypoint in "
                f"command, after {RUNNER} {' '.join(options)} --, or nothing reports "
                "metrics",
                TARGET,
            )
        )
        return
    if str(command[0]).rsplit("/", 1)[-1] == RUNNER:
        return
    if options == PUSH_OPTIONS:
        command = _through_katib_sdk(list(command), source, notes)
    elif "--metrics-file" not in options:
        command = [*MERGE_STDERR, *command]
        notes.append(
            Note(
                NoteKind.CHANGED,
                source,
                "stderr is merged into stdout for the runner to parse, as Katib's "
                "StdOut collector reads both (Python's logging writes to stderr)",
                TARGET,
            )
        )
    container["command"] = [RUNNER, *options, "--", *command]
    notes.append(
        Note(
            NoteKind.CHANGED,
            source,
            f"wrapped as {RUNNER} {' '.join(options)} -- …: the image needs the "
            "runner (pip install kubetune-runner, no dependencies); it replaces "
            "Katib's metrics-collector sidecar",
            TARGET,
        )
    )


def _through_katib_sdk(command: list[Any], source: str, notes: list[Note]) -> list[Any]:
    """``python train.py`` → ``python -m kubetune_runner.katib train.py``: same code, and
    its ``kubeflow.katib.report_metrics`` calls report to kubetune."""
    runs_python = _PYTHON.match(str(command[0]).rsplit("/", 1)[-1]) is not None
    if (
        runs_python
        and len(command) > 1
        and (command[1] == "-m" or not str(command[1]).startswith("-"))
    ):
        notes.append(
            Note(
                NoteKind.CHANGED,
                source,
                f"started through python {' '.join(KATIB_SDK)} so that "
                "kubeflow.katib.report_metrics reports to kubetune, unchanged code",
                TARGET,
            )
        )
        return [command[0], *KATIB_SDK, *command[1:]]
    notes.append(
        Note(
            NoteKind.APPROXIMATED,
            source,
            "cannot tell how the program is started: run it as python "
            f"{' '.join(KATIB_SDK)} SCRIPT, or import report_metrics from "
            "kubetune_runner.katib, or its report_metrics calls go to Katib",
            TARGET,
        )
    )
    return command


def _runner_options(collector: Any, metrics: Sequence[str], notes: list[Note]) -> list[str]:
    source = "spec.metricsCollectorSpec"
    collector = collector if isinstance(collector, Mapping) else {}
    raw = (collector.get("collector") or {}).get("kind", CollectorKind.STDOUT)
    try:
        kind = CollectorKind(raw)
    except ValueError:
        known = ", ".join(k.value for k in CollectorKind)
        raise ConversionError(
            f"{source}.collector.kind", f"{raw!r} is not one of {known}"
        ) from None
    names = ["--metrics", ",".join(metrics)]
    origin = collector.get("source") or {}
    if kind is CollectorKind.PUSH:
        notes.append(
            Note(
                NoteKind.CHANGED,
                f"{source}.collector.kind",
                "Push: the program's report_metrics() calls go to kubetune through "
                "kubetune_runner.katib (see docs/from-katib.md); the runner does not "
                "parse output, it ends the program when the trial is stopped",
                TARGET,
            )
        )
        return PUSH_OPTIONS
    _report_filter(origin, source, notes)
    if kind is CollectorKind.FILE:
        return [*_file_options(origin, source, notes), *names]
    if kind is not CollectorKind.STDOUT:
        lost = "the trial's metrics" if kind is CollectorKind.NONE else f"{kind} collection"
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{source}.collector.kind",
                f"kubetune has no {lost}: the runner reads name=value and JSON lines "
                "on stdout instead; print the metrics or call kubetune_runner.report()",
                TARGET,
            )
        )
    return names


def _report_filter(origin: Mapping[str, Any], source: str, notes: list[Note]) -> None:
    formats = (origin.get("filter") or {}).get("metricsFormat") or []
    if any(f != KATIB_TEXT_FILTER for f in formats):
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{source}.source.filter.metricsFormat",
                "kubetune-runner reads name=value pairs and JSON lines, not custom "
                "regular expressions: print the metrics as name=value",
                TARGET,
            )
        )


def _file_options(origin: Mapping[str, Any], source: str, notes: list[Note]) -> list[str]:
    where = f"{source}.source.fileSystemPath"
    file_path = origin.get("fileSystemPath") or {}
    if not file_path.get("path"):
        raise ConversionError(f"{where}.path", "a File collector needs the metrics file's path")
    if file_path.get("kind", "File") != "File":
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{where}.kind",
                "kubetune-runner follows one file, not a directory",
                TARGET,
            )
        )
    file_format = str(file_path.get("format") or "TEXT")
    if file_format not in ("TEXT", "JSON"):
        raise ConversionError(f"{where}.format", f"{file_format!r} is not TEXT or JSON")
    return ["--metrics-file", str(file_path["path"]), "--metrics-format", file_format]
