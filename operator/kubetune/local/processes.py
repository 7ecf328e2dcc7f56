"""Start and stop trial subprocesses the way a kubelet would start the trial's container.

The primary container's ``command`` + ``args`` run with its ``env`` (plain values; references
to Secrets or fields have no meaning on a laptop and are reported once), the runner's
variables, and ``CUDA_VISIBLE_DEVICES`` when GPUs are handed out. Each trial gets its own
process group so stopping it also stops whatever it spawned.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from kubetune.api.study import Objective
from kubetune.template import render_container


class TrialProcess:
    """A running trial: its process group and the log its output goes to."""

    def __init__(self, index: int, popen: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.index = index
        self.popen = popen
        self.log = log
        self.terminated_at: float | None = None
        self.stop_requested_at: float | None = None

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None:
            self.log.close()
        return code

    def terminate(self, now: float) -> None:
        if self.terminated_at is None:
            self.terminated_at = now
            self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)


def kill_leftover(pid: int, trial_dir: Path) -> bool:
    """Kill the process group of a trial left running by a run that was itself killed.

    The pid is only trusted if that process still carries the trial's directory in its
    environment (Linux ``/proc``), so a recycled pid is never signalled.
    """
    try:
        environment = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    if f"KUBETUNE_LOCAL_DIR={trial_dir.resolve()}".encode() not in environment.split(b"\0"):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def command_line(container: Mapping[str, Any]) -> list[str]:
    """What the container runs: its command, then its args (no image entrypoint locally)."""
    return [*(container.get("command") or []), *(container.get("args") or [])]


def launch(
    *,
    container: Mapping[str, Any],
    trial_name: str,
    index: int,
    params: Mapping[str, Any],
    budget: float | None,
    objectives: Sequence[Objective],
    trial_dir: Path,
    workdir: Path,
    gpus: Sequence[str],
) -> TrialProcess:
    rendered = render_container(container, params, trial_name, budget)
    env = dict(os.environ)
    # Programs installed next to this interpreter (kubetune-runner, the venv's python) come
    # first, as they would in a training image built with them.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for variable in rendered.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
    env.update(
        KUBETUNE_TRIAL=trial_name,
        KUBETUNE_PARAMS=json.dumps(dict(params)),
        KUBETUNE_OBJECTIVE=json.dumps(
            [{"metric": o.metric, "direction": o.direction.value} for o in objectives]
        ),
        KUBETUNE_LOCAL_DIR=str(trial_dir.resolve()),
        PYTHONUNBUFFERED="1",
    )
    if budget is not None:
        env["KUBETUNE_BUDGET"] = str(budget)
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    log = (trial_dir / "output.log").open("ab")
    try:
        popen = subprocess.Popen(
            command_line(rendered),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError:
        log.close()
        raise
    return TrialProcess(index, popen, log)
