"""Leftover processes of a killed run: found by the trial directory in their environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import kubetune_runner
from kubetune.local.processes import TrialProcess, fast_runner, kill_leftovers, wait_for_exit

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

RUNNER_HOME = Path(kubetune_runner.__file__).parent.parent
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def sleeper(trial_dir: Path | None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "KUBETUNE_LOCAL_DIR"}
    if trial_dir is not None:
        env["KUBETUNE_LOCAL_DIR"] = str(trial_dir.resolve())
    return subprocess.Popen(SLEEPER, env=env, start_new_session=True)


def test_only_the_processes_of_that_trial_are_killed(tmp_path: Path) -> None:
    ours, other_trial, unrelated = sleeper(tmp_path / "0"), sleeper(tmp_path / "1"), sleeper(None)
    try:
        found = kill_leftovers(tmp_path / "0")
        assert found == [ours.pid]
        assert ours.wait(timeout=30) == -9
        assert other_trial.poll() is None and unrelated.poll() is None
    finally:
        for process in (ours, other_trial, unrelated):
            process.kill()
            process.wait()


def test_a_trial_with_nothing_left_finds_nothing(tmp_path: Path) -> None:
    assert kill_leftovers(tmp_path / "never-ran") == []


def test_waiting_ends_when_a_trial_exits_not_when_the_timeout_passes(tmp_path: Path) -> None:
    """A successor must not wait out a polling interval: with a 10-minute timeout this test
    only finishes because the exit of the short trial wakes the wait (its pidfd)."""
    long = TrialProcess(0, sleeper(None), (tmp_path / "0.log").open("ab"))
    short = subprocess.Popen([sys.executable, "-c", "pass"])
    quick = TrialProcess(1, short, (tmp_path / "1.log").open("ab"))
    try:
        assert quick.exit_fd is not None or sys.platform != "linux"
        wait_for_exit([long, quick], timeout=600)
        assert quick.poll() == 0 and long.poll() is None
        assert quick.exit_fd is None  # closed once the exit is seen
    finally:
        long.kill()
        long.popen.wait()
        long.poll()


def test_the_runner_wrapper_starts_without_site_packages_and_behaves_the_same(
    tmp_path: Path,
) -> None:
    """`kubetune-runner ARGS` runs as `python -S` with the runner next to kubetune: same
    arguments, same program, same reports, only a faster start."""
    fast = fast_runner(["kubetune-runner", "--", sys.executable, "-c", "print('loss=0.25')"])
    assert fast[:3] == [sys.executable, "-S", "-c"] and fast[4:6] == [str(RUNNER_HOME), "--"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    env["KUBETUNE_LOCAL_DIR"] = str(tmp_path)
    done = subprocess.run(fast, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "loss=0.25\n")
    assert '"values": {"loss": 0.25}' in (tmp_path / "metrics.jsonl").read_text()
    usage = subprocess.run([*fast[:5], "--bad-flag"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: kubetune-runner")


@pytest.mark.parametrize(
    "argv", [[], ["python", "train.py"], ["/usr/bin/kubetune-runner", "--", "x"]]
)
def test_other_commands_run_as_written(argv: list[str]) -> None:
    assert fast_runner(argv) == argv
