"""Start and stop trial subprocesses the way a kubelet would start the trial's container.

The primary container's ``command`` + ``args`` run with its ``env`` (plain values; references
to Secrets or fields have no meaning on a laptop and are reported once), the runner's
variables (``kubetune.lifecycle.runner_env``, the same as in a cluster, plus the local
transport's ``KUBETUNE_LOCAL_DIR``), and ``CUDA_VISIBLE_DEVICES`` when GPUs are handed out.
Each trial gets its own process group so stopping it also stops whatever it spawned.

The backend sleeps in :func:`wait_for_exit`, which wakes the moment any trial process exits
(through a pidfd per process, on Linux) so a successor starts without waiting out a polling
interval.

A trial whose command starts with ``kubetune-runner`` (the documented wrapper) runs the
runner found next to this interpreter's ``kubetune`` as ``python -S``: the same code the
console script would run, without the site-packages start-up (``.pth`` files, editable
install finders) that a standard-library-only wrapper does not need — tens of milliseconds
per trial (docs/benchmarks.md, local overhead). The training program it starts is unchanged.

A run of ``kubetune run`` that was itself killed leaves its trials' processes behind, and
the runner starts the training program in a session of its own, out of reach of the
runner's group. Every process of a trial carries the trial's directory in its environment
(``KUBETUNE_LOCAL_DIR``, inherited from the runner), so :func:`kill_leftovers` finds them all
in ``/proc`` — and only them: a recycled pid never carries that directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from kubetune import lifecycle
from kubetune.api.study import Objective
from kubetune.local.checkpoints import Handoff
from kubetune.template import render_container

RUNNER_COMMAND = "kubetune-runner"
RUNNER_PACKAGE = "kubetune_runner"
RUNNER_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'kubetune-runner'; "
    "from kubetune_runner.cli import main; sys.exit(main())"
)
"""``python -S -c`` this, the runner package's folder, then the runner's arguments."""
PROC = Path("/proc")
"""Where Linux shows each process's environment; elsewhere no leftover can be proven."""


class TrialProcess:
    """A running trial: its process group and the log its output goes to."""

    def __init__(self, index: int, popen: subprocess.Popen[bytes], log: IO[bytes]) -> None:
        self.index = index
        self.popen = popen
        self.log = log
        self.terminated_at: float | None = None
        self.stop_requested_at: float | None = None
        self.exit_fd = _pidfd(popen.pid)
        """Readable once the process exits; None where pidfds are not available."""

    def poll(self) -> int | None:
        code = self.popen.poll()
        if code is not None:
            self.log.close()
            if self.exit_fd is not None:
                os.close(self.exit_fd)
                self.exit_fd = None
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


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already reaped
        return None


FALLBACK_POLL_SECONDS = 0.05
"""How often exits are checked for a process without a pidfd (other systems)."""


def wait_for_exit(processes: Collection[TrialProcess], timeout: float) -> None:
    """Return once any of ``processes`` has exited, or after ``timeout`` seconds."""
    if any(p.popen.returncode is not None for p in processes):
        return
    fds = [p.exit_fd for p in processes if p.exit_fd is not None]
    if len(fds) < len(processes):
        timeout = min(timeout, FALLBACK_POLL_SECONDS)
    if fds:
        select.select(fds, [], [], timeout)
    else:
        time.sleep(timeout)


def kill_leftovers(trial_dir: Path, proc: Path = PROC) -> list[int]:
    """Kill every process of a trial left running by a run that was itself killed.

    A process is the trial's only if its environment (``/proc/PID/environ``) carries the
    trial's directory; its process group and session go with it, since the runner starts
    the training program in a session of its own. Returns the pids found.
    """
    marker = f"{lifecycle.LOCAL_DIR_VARIABLE}={trial_dir.resolve()}".encode()
    found = [pid for pid in _pids(proc) if marker in _environment(proc, pid)]
    ours = {os.getpid(), os.getpgid(0), os.getsid(0)}
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            for group in {os.getpgid(pid), os.getsid(pid)} - ours:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    return found


def _pids(proc: Path) -> list[int]:
    try:
        return [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []


def _environment(proc: Path, pid: int) -> list[bytes]:
    try:
        return (proc / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours to read
        return []


def command_line(container: Mapping[str, Any]) -> list[str]:
    """What the container runs: its command, then its args (no image entrypoint locally)."""
    return [*(container.get("command") or []), *(container.get("args") or [])]


def fast_runner(argv: Sequence[str]) -> list[str]:
    """``kubetune-runner ARGS`` as ``python -S -c BOOTSTRAP DIR ARGS`` with the runner
    installed next to kubetune; any other command, or no runner here, unchanged."""
    if not argv or argv[0] != RUNNER_COMMAND:
        return list(argv)
    spec = importlib.util.find_spec(RUNNER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return list(argv)
    folder = Path(next(iter(spec.submodule_search_locations))).parent
    return [sys.executable, "-S", "-c", RUNNER_BOOTSTRAP, str(folder), *argv[1:]]


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
    checkpoints: Handoff | None = None,
) -> TrialProcess:
    """Start a trial's program; ``checkpoints`` are its checkpoint locations when the study
    keeps checkpoints."""
    saves = checkpoints.checkpoint_dir if checkpoints else None
    restores = checkpoints.restore_from if checkpoints else None
    rendered = render_container(container, params, trial_name, budget, saves, restores)
    env = dict(os.environ)
    # Programs installed next to this interpreter (kubetune-runner, the venv's python) come
    # first, as they would in a training image built with them.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for variable in rendered.get("env") or []:
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
    env.update(
        lifecycle.runner_env(
            trial=trial_name,
            params=params,
            objectives=objectives,
            budget=budget,
            checkpoint_dir=saves,
            restore_from=restores,
        )
    )
    env[lifecycle.LOCAL_DIR_VARIABLE] = str(trial_dir.resolve())
    env["PYTHONUNBUFFERED"] = "1"
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
    log = (trial_dir / "output.log").open("ab")
    try:
        popen = subprocess.Popen(
            fast_runner(command_line(rendered)),
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
