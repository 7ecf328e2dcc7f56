"""Start and stop trial subprocesses the way a kubelet would start the trial's container.

The primary container's ``command`` + ``args`` run with its ``env`` (plain values; references
to Secrets or fields have no meaning on a laptop and are reported once), the runner's
variables (``kubetune.lifecycle.runner_env``, the same as in a cluster, plus the local
transport's ``KUBETUNE_LOCAL_DIR``), and ``CUDA_VISIBLE_DEVICES`` when GPUs are handed out.
Each trial gets its own process group so stopping it also stops whatever it spawned.

The backend sleeps in :func:`wait_for_exit`, which wakes the moment any trial process exits
(through a pidfd per process, on Linux) so a successor starts without waiting out a polling
interval.

A trial whose command starts with ``kubetune-runner`` (the documented wrapper) runs its
program directly, the backend doing the wrapper's job itself (``local/inline.py``): no second
Python process per trial. Where only the wrapper process can do the job (``--metrics-file``),
it runs the runner found next to this interpreter's ``kubetune`` as ``python -S``: the same
code the console script would run, without the site-packages start-up (``.pth`` files,
editable install finders) that a standard-library-only wrapper does not need.

A run of ``kubetune run`` that was itself killed leaves its trials' processes behind, each
in a session of its own (a wrapper process also starts its program in another session).
Every process of a trial carries the trial's directory in its environment
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
from kubetune.local.inline import RUNNER_COMMAND, RUNNER_PACKAGE, OutputPump, inline_run
from kubetune.template import render_container

RUNNER_BOOTSTRAP = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'kubetune-runner'; "
    "from kubetune_runner.cli import main; sys.exit(main())"
)
"""``python -S -c`` this, the runner package's folder, then the runner's arguments."""
PROC = Path("/proc")
"""Where Linux shows each process's environment; elsewhere no leftover can be proven."""


class TrialProcess:
    """A running trial: its process group, the log its output goes to and, when the backend
    does the wrapper's job, the pump that reads its stdout."""

    def __init__(
        self,
        index: int,
        popen: subprocess.Popen[bytes],
        log: IO[bytes],
        *,
        inline: bool = False,
        pump: OutputPump | None = None,
    ) -> None:
        self.index = index
        self.popen = popen
        self.log = log
        self.inline = inline
        """Whether the backend does the wrapper's job for this trial (``local/inline.py``)."""
        self.pump = pump
        self.terminated_at: float | None = None
        self.stop_requested_at: float | None = None
        self.exited_at: float | None = None
        self.exit_fd = _pidfd(popen.pid)
        """Readable once the process exits; None where pidfds are not available."""

    @property
    def stops_itself(self) -> bool:
        """Whether something in the trial watches its stop file (a wrapper process, or the
        program itself); not when the backend does the wrapper's job, so it ends the trial."""
        return not self.inline

    def poll(self) -> int | None:
        """The exit status once the program exited and its output ended (or the drain time
        passed): only then is everything it reported on disk."""
        code = self.popen.poll()
        if code is None:
            return None
        if self.exited_at is None:
            self.exited_at = time.monotonic()
        if self.pump is not None and not self.pump.drained(time.monotonic() - self.exited_at):
            return None
        self.log.close()
        if self.pump is not None:
            self.pump.close()
        if self.exit_fd is not None:
            os.close(self.exit_fd)
            self.exit_fd = None
        return code

    def ready(self) -> bool:
        """Whether :meth:`poll` has news without waiting."""
        return self.popen.returncode is not None and (self.pump is None or self.pump.finished)

    def wake_fd(self) -> int | None:
        """Readable when :meth:`poll` may have news: the exit, then the end of the output."""
        if self.popen.returncode is None:
            return self.exit_fd
        return self.pump.done_fd if self.pump is not None else None

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
"""How often exits are checked for a process without a pidfd (other systems), and whether
the drain time of an exited program whose output has not ended has run out."""


def wait_for_exit(processes: Collection[TrialProcess], timeout: float) -> None:
    """Return once any of ``processes`` has exited (and its output ended), or after
    ``timeout`` seconds."""
    if any(p.ready() for p in processes):
        return
    wakes = [p.wake_fd() for p in processes]
    fds = [fd for fd in wakes if fd is not None]
    draining = any(p.popen.returncode is not None for p in processes)  # its drain time runs
    if len(fds) < len(wakes) or draining:
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
    argv = command_line(rendered)
    inline = inline_run(argv)
    pump, write_end = None, None
    if inline is not None and inline.parse:
        # The pump's thread starts before the program, while this process has the CPU: once
        # the program is starting, a thread start waited ~1.5 ms for it (2 cores, 2 trials).
        read_end, write_end = os.pipe()
        metrics = [o.metric for o in objectives]
        pump = OutputPump(os.fdopen(read_end, "rb"), log, trial_dir.resolve(), inline, metrics)
    try:
        popen = subprocess.Popen(
            inline.command if inline else fast_runner(argv),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log if write_end is None else write_end,
            stderr=log if inline else subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError:
        log.close()
        if pump is not None:
            pump.close()
        raise
    finally:
        if write_end is not None:
            os.close(write_end)  # the program holds it now: its end is the output's end
    if inline is None:
        return TrialProcess(index, popen, log)
    return TrialProcess(index, popen, log, inline=True, pump=pump)
