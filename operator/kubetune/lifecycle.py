"""One trial lifecycle for both backends: the environment a trial starts with, and its verdict.

The operator (``kube/``) and ``kubetune run`` (``local/``) start trials differently — a Job
in a cluster, a subprocess on a laptop — and observe them differently (pods and Job
conditions, process exit codes and files). What they must agree on lives here once:

- :func:`runner_env`: the ``KUBETUNE_*`` variables a trial's runner reads. Each backend adds
  only its own transport variable (``KUBETUNE_NAMESPACE`` in a cluster, ``KUBETUNE_LOCAL_DIR``
  on a laptop). Numbers are formatted by ``template.format_number``, the function that
  substitutes ``${budget}`` too, so a budget of 27.0 is ``27`` everywhere;
- :func:`verdict`: how a trial whose program is no longer running ended — phase, reason and
  message — from what the backend observed (:class:`Ended`);
- :func:`failure_summary`: the few lines of a failure message worth showing in a table.

Pure: no I/O, so a test runs the same trial through both backends' observation code and
compares their environment and verdict exactly (``tests/unit/test_lifecycle_backends.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubetune import algorithms
from kubetune.api.reasons import TrialReason
from kubetune.api.study import Objective, ParameterValue, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.template import CHECKPOINT_REFERENCES, format_number, references

TRIAL_VARIABLE = "KUBETUNE_TRIAL"
"""The trial's name (``<study>-<index>``); in a cluster, the Trial the runner patches."""
PARAMS_VARIABLE = "KUBETUNE_PARAMS"
"""The trial's parameters as a JSON object with sorted keys."""
OBJECTIVE_VARIABLE = "KUBETUNE_OBJECTIVE"
"""JSON list of ``{"metric", "direction"}``: the runner keeps each objective's best point."""
BUDGET_VARIABLE = "KUBETUNE_BUDGET"
"""The resource granted to the trial (multi-fidelity algorithms), as ``${budget}`` shows it."""
NAMESPACE_VARIABLE = "KUBETUNE_NAMESPACE"
"""Cluster transport: the namespace of the trial's Trial."""
LOCAL_DIR_VARIABLE = "KUBETUNE_LOCAL_DIR"
"""Local transport: the trial's directory (metrics appended, stop file watched)."""
CHECKPOINT_DIR_VARIABLE = "KUBETUNE_CHECKPOINT_DIR"
"""Where this trial saves its checkpoint: a directory on a laptop or a mounted volume, or a
URI prefix (``s3://…``) handed to the trial's own code. Set only when the study keeps
checkpoints (PBT, or ``trialTemplate.checkpoints`` on a cluster)."""
RESTORE_FROM_VARIABLE = "KUBETUNE_RESTORE_FROM"
"""The checkpoint this trial starts from (another trial's checkpoint directory or URI); unset
when it starts fresh."""

UNDELIVERED_EXIT_CODE = 75
"""``kubetune-runner``'s exit status when the program exited 0 but its last reports reached
neither the Trial nor the termination message (``kubetune_runner.cli.EXIT_UNDELIVERED``)."""

MAX_MESSAGE_CHARS = 1024
"""Longest message a verdict carries; a Trial's status stays small and readable. A longer
message keeps its first line (what happened) and its end (the program's last words)."""
OUTPUT_TAIL_LINES = 20
"""How many of the program's last output lines a failure message quotes."""
FAILURE_SUMMARY_LINES = 2
"""How many meaningful lines of a failure message a table or status line shows."""
OUTPUT_MARKER = "; last output:"
"""Separates a failure message's first line from the program's output."""
_ELISION = "\n…\n"

_NOISE_LINES = (
    "Traceback (most recent call last):",
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
"""Lines that say nothing about what went wrong; a summary skips them."""


def runner_env(
    *,
    trial: str,
    params: Mapping[str, ParameterValue],
    objectives: Sequence[Objective],
    budget: float | None,
    checkpoint_dir: str | None = None,
    restore_from: str | None = None,
) -> dict[str, str]:
    """The variables ``kubetune-runner`` reads, the same on a cluster and a laptop.

    ``checkpoint_dir`` and ``restore_from`` are locations as the trial sees them (the backend
    resolved them); each is left unset when None."""
    env = {
        TRIAL_VARIABLE: trial,
        PARAMS_VARIABLE: json.dumps(dict(params), sort_keys=True),
        OBJECTIVE_VARIABLE: json.dumps(
            [{"metric": o.metric, "direction": str(o.direction)} for o in objectives]
        ),
    }
    if budget is not None:
        env[BUDGET_VARIABLE] = format_number(budget)
    if checkpoint_dir is not None:
        env[CHECKPOINT_DIR_VARIABLE] = checkpoint_dir
    if restore_from is not None:
        env[RESTORE_FROM_VARIABLE] = restore_from
    return env


def keeps_checkpoints(spec: StudySpec) -> bool:
    """Whether a study's trials get checkpoint locations: its algorithm hands checkpoints on
    (``Capabilities.checkpoints``: pbt), or its template asks for them (``${checkpointDir}``,
    ``${restoreFrom}``)."""
    declaration = algorithms.REGISTRY.get(spec.algorithm.name)
    if declaration is not None and declaration.capabilities.checkpoints:
        return True
    return bool(references(spec.trial_template.container()) & CHECKPOINT_REFERENCES)


def exit_status(returncode: int) -> int:
    """A process's exit status as a container runtime reports it: signal N is 128+N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass(frozen=True)
class Ended:
    """What a backend observed about a trial whose program is no longer running."""

    exit_code: int | None
    """The program's exit status (128+N for signal N); None when no container ever ran."""
    values: Mapping[str, float] = field(default_factory=dict)
    """The latest finite value reported for each metric."""
    non_finite: Mapping[str, str] = field(default_factory=dict)
    """Metrics whose latest report was NaN or infinite, with that value as text."""
    stop_requested: bool = False
    pruned: bool = False
    """With ``stop_requested``: a stopping rule ended it (else the study did)."""
    stop_reason: str = ""
    output: str = ""
    """What the program printed last (local: its log; cluster: the termination message)."""
    failure_reason: TrialReason = TrialReason.ERROR
    """The runtime's word for a failure (OOMKilled, DeadlineExceeded); Error otherwise."""
    failure_detail: str = ""
    """Why it failed when there is no exit code (e.g. the Job's Failed condition message)."""


@dataclass(frozen=True)
class Verdict:
    phase: TrialPhase
    reason: TrialReason
    message: str = ""


def stopped(pruned: bool, stop_reason: str) -> Verdict:
    """A trial asked to stop ends Pruned or Stopped, whatever its exit code (the runner
    exits 0 when told to stop; a program killed for it exits non-zero)."""
    if pruned:
        return Verdict(TrialPhase.PRUNED, TrialReason.EARLY_STOPPED, stop_reason)
    return Verdict(TrialPhase.STOPPED, TrialReason.STUDY_ENDED, stop_reason)


def verdict(ended: Ended, objectives: Sequence[str]) -> Verdict:
    """How the trial ended, given the metric names of the study's objectives."""
    if ended.stop_requested:
        return stopped(ended.pruned, ended.stop_reason)
    if ended.exit_code == UNDELIVERED_EXIT_CODE:
        return _undelivered(ended)
    if ended.exit_code != 0:
        return _failed(ended)
    for metric in objectives:
        if metric in ended.non_finite:
            return Verdict(
                TrialPhase.FAILED,
                TrialReason.OBJECTIVE_NOT_FINITE,
                f"the trial reported {metric}={ended.non_finite[metric]}: an objective must "
                "be a finite number (did the training diverge?)",
            )
    missing = [m for m in objectives if not is_finite(ended.values.get(m))]
    if missing:
        return Verdict(
            TrialPhase.FAILED,
            TrialReason.METRICS_MISSING,
            f"exited 0 but never reported {', '.join(missing)}: call "
            f"kubetune_runner.report({missing[0]}=...) or print '{missing[0]}=<value>' "
            "under kubetune-runner",
        )
    return Verdict(TrialPhase.SUCCEEDED, TrialReason.COMPLETED)


def _undelivered(ended: Ended) -> Verdict:
    """Never scored from what arrived earlier: the values it reported last are unknown."""
    head = (
        f"the program exited 0, but kubetune-runner could not deliver its last reports "
        f"(exit {UNDELIVERED_EXIT_CODE}): the API server did not answer within "
        "KUBETUNE_DELIVERY_TIMEOUT_SECONDS and no termination message could be written"
    )
    tail = "\n".join(ended.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
    message = f"{head}{OUTPUT_MARKER}\n{tail}" if tail.strip() else head
    return Verdict(TrialPhase.FAILED, TrialReason.METRICS_UNDELIVERED, bounded_message(message))


def _failed(ended: Ended) -> Verdict:
    if ended.exit_code is not None:
        head = f"exited with code {ended.exit_code}"
    else:
        head = ended.failure_detail or "the trial's program never ran"
    tail = "\n".join(ended.output.rstrip().splitlines()[-OUTPUT_TAIL_LINES:])
    message = f"{head}{OUTPUT_MARKER}\n{tail}" if tail.strip() else head
    return Verdict(TrialPhase.FAILED, ended.failure_reason, bounded_message(message))


def bounded_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``message`` in at most ``limit`` characters, keeping its first line and its end."""
    if len(message) <= limit:
        return message
    head = message.split("\n", 1)[0][: limit // 2]
    keep = limit - len(head) - len(_ELISION)
    return head + _ELISION + message[-keep:]


def failure_summary(message: str, lines: int = FAILURE_SUMMARY_LINES) -> str:
    """The first line of a failure message and its last meaningful output lines, on one line.

    ``exited with code 1; last output:`` followed by a traceback becomes ``exited with code
    1: raise ValueError(...) | ValueError: lr must be positive`` — the error, not its header.
    """
    head, _, output = message.partition(OUTPUT_MARKER)
    first, _, rest = head.partition("\n")
    meaningful = [
        line.strip()
        for line in (output or rest).splitlines()
        if line.strip() and line.strip() not in _NOISE_LINES and set(line.strip()) - set("^~ ")
    ]
    shown = meaningful[-lines:] if lines > 0 else []
    return ": ".join(part for part in (first.strip(), " | ".join(shown)) if part)


def is_finite(value: object) -> bool:
    """Whether a reported value counts: a real number, not NaN or infinite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
