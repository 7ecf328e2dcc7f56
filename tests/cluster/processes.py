"""Start and stop long-running daemons so that nothing outlives the cluster.

Every daemon (and every container process the node agent starts) gets its own session,
so a single signal to its process group reaches whatever it forked, and a stop from
another shell (`make cluster-down`) only needs the pid written at start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a server could listen on `port` now (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_daemon(
    argv: Sequence[str],
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, ...]."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def command_line_of(pid: int) -> str:
    """The process's command line joined by spaces, or "" if there is no such process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped counts as dead)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _live_group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap(pid: int) -> None:
    # Reaps our own children; for processes started by another shell this is a no-op.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_process_groups(
    pids: Sequence[int], grace_seconds: float, first_signal: int = signal.SIGTERM
) -> None:
    """SIGTERM the process groups led by `pids` together; SIGKILL what is left after grace.

    `first_signal=signal.SIGKILL` kills at once, with no chance to clean up (a crash).
    Returns once no live process remains in any of the groups.
    """
    for pid in pids:
        _signal_group(pid, first_signal)
    deadline = time.monotonic() + grace_seconds
    remaining = list(pids)
    while remaining:
        for pid in remaining:
            _reap(pid)
        remaining = [pid for pid in remaining if _live_group_members(pid)]
        if time.monotonic() > deadline:
            for pid in remaining:
                _signal_group(pid, signal.SIGKILL)
            deadline = float("inf")
        time.sleep(0.05)


def stop_child(process: subprocess.Popen[bytes], grace_seconds: float) -> int:
    """Like `stop_process_groups` for a child we hold a Popen of; returns its returncode.

    Waiting through Popen (not os.waitpid) keeps the exit status for the caller. Whatever
    the leader leaves behind in its group is killed too, as a container runtime would.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return process.returncode
