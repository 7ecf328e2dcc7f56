"""``kubetune run`` does the wrapper's job itself: a wrapped trial's program is its only process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kubetune.api.study import Objective
from kubetune.api.trial import TrialPhase
from kubetune.local.inline import InlineRun, inline_run
from kubetune.local.processes import TrialProcess, launch, wait_for_exit
from tests.unit.local.test_backend import manifest, run_study

PYTHON = sys.executable


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["kubetune-runner", "--", "python", "t.py"], InlineRun(["python", "t.py"], True, None)),
        (["kubetune-runner", "python", "t.py"], InlineRun(["python", "t.py"], True, None)),
        (
            ["kubetune-runner", "--metrics", "loss, acc", "--", "python", "t.py", "--x=1"],
            InlineRun(["python", "t.py", "--x=1"], True, {"loss", "acc"}),
        ),
        (["kubetune-runner", "--no-parse", "--", "t"], InlineRun(["t"], False, None)),
        (["kubetune-runner", "--grace-seconds", "3", "--", "t"], InlineRun(["t"], True, None)),
    ],
)
def test_the_wrapper_options_are_read_by_the_runner_own_parser(
    argv: list[str], expected: InlineRun
) -> None:
    assert inline_run(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["python", "train.py"],
        ["/usr/bin/kubetune-runner", "--", "t"],
        ["kubetune-runner"],  # no program: the wrapper's usage message belongs in the log
        ["kubetune-runner", "--bad-flag", "--", "t"],
        ["kubetune-runner", "--help"],
        ["kubetune-runner", "--version"],
        ["kubetune-runner", "--metrics-file", "m.txt", "--", "t"],  # followed by the wrapper
    ],
)
def test_what_only_the_wrapper_process_can_do_is_left_to_it(argv: list[str]) -> None:
    assert inline_run(argv) is None


PROGRAM = """\
import sys
print("epoch=1 loss=0.5abc acc=0.5")
print("to stderr", file=sys.stderr)
print("step=2 loss=0.25", end="")
"""


def start(
    tmp_path: Path, *options: str, trial: str = "trial", program: str = PROGRAM
) -> TrialProcess:
    trial_dir = tmp_path / trial
    trial_dir.mkdir()
    container = {"command": ["kubetune-runner", *options, "--", PYTHON, "-c", program]}
    return launch(
        container=container,
        trial_name="t-0",
        index=0,
        params={},
        budget=None,
        objectives=[Objective(metric="loss", direction="minimize")],
        trial_dir=trial_dir,
        workdir=tmp_path,
        gpus=[],
    )


def finish(process: TrialProcess) -> int:
    while (code := process.poll()) is None:
        wait_for_exit([process], timeout=60)
    return code


def reports(trial_dir: Path) -> list[dict[str, Any]]:
    path = trial_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_program_is_the_trial_only_process_and_reports_as_through_the_wrapper(
    tmp_path: Path,
) -> None:
    process = start(tmp_path)
    assert process.popen.args[:2] == [PYTHON, "-c"]  # no wrapper process in between
    assert process.inline and not process.stops_itself
    # Its exit is only news once its output ended: the last line is already reported.
    assert finish(process) == 0
    trial_dir = tmp_path / "trial"
    assert [(r["step"], r["values"]) for r in reports(trial_dir)] == [
        (1, {"acc": 0.5}),
        (2, {"loss": 0.25}),
    ]
    log = (trial_dir / "output.log").read_text()
    # stdout and stderr interleave as the program wrote them, as through the wrapper
    assert all(part in log for part in ("epoch=1 loss=0.5abc acc=0.5", "to stderr", "loss=0.25"))
    warning = "kubetune-runner: not a number, not reported: loss=0.5abc (in line 'epoch=1"
    assert warning in log
    assert process.log.closed and process.exit_fd is None


def test_metrics_and_no_parse_options_are_honoured(tmp_path: Path) -> None:
    only_acc = start(tmp_path, "--metrics", "acc", trial="only-acc")
    assert finish(only_acc) == 0
    assert [r["values"] for r in reports(tmp_path / "only-acc")] == [{"acc": 0.5}]
    quiet = start(tmp_path, "--no-parse", trial="quiet")
    assert quiet.pump is None and quiet.inline and finish(quiet) == 0
    assert reports(tmp_path / "quiet") == []
    assert "step=2 loss=0.25" in (tmp_path / "quiet" / "output.log").read_text()


IGNORES_STOP_FILE = """\
import pathlib, signal, sys, time
def ended(signum, frame):
    print("terminated", flush=True)
    sys.exit(3)
signal.signal(signal.SIGTERM, ended)
print("loss=0.1", flush=True)
pathlib.Path(sys.argv[3]).touch()  # the handler is in place: the other trial may end
time.sleep(600)
"""
ENDS_ONCE_READY = """\
import os, sys, time
if "0.1" not in sys.argv[1]:
    exec(sys.argv[2])
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
print("loss=0.2")
"""
"""Trial 0 ends the study only once trial 1 has its SIGTERM handler in place: a SIGTERM
before that would end trial 1 without the line the test looks for."""


@pytest.mark.timeout(120)
def test_a_stopped_inline_trial_is_ended_by_the_backend_without_waiting_out_the_grace(
    tmp_path: Path,
) -> None:
    """No wrapper watches the stop file, so the backend sends SIGTERM itself at once; with a
    grace of ten minutes this test only ends because it does."""
    document = manifest(
        objective={"metric": "loss", "direction": "minimize", "target": 100.0},
        initialTrials=[{"x": 0.1}, {"x": 0.9}],
        budget={"maxTrials": 4, "parallelTrials": 2},
    )
    container = document["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["kubetune-runner", "--", PYTHON, "-c", ENDS_ONCE_READY]
    container["args"] = ["${params.x}", IGNORES_STOP_FILE, str(tmp_path / "handler-in-place")]
    study = run_study(document, tmp_path, stop_grace_seconds=600)
    trials = {t.index: t for t in study.store.load_trials()}
    assert trials[0].phase is TrialPhase.SUCCEEDED
    assert trials[1].phase is TrialPhase.STOPPED and trials[1].reason == "StudyEnded"
    assert "terminated" in (study.store.trial_dir(1) / "output.log").read_text()


def test_a_background_process_holding_stdout_delays_the_verdict_only_so_long(
    tmp_path: Path,
) -> None:
    """The wrapper waits a bounded time for the output to end after the program's exit; so
    does the backend, judging the trial with what was reported by then."""
    holder = "import subprocess; subprocess.Popen(['sleep', '30']); print('loss=0.5', flush=True)"
    process = start(tmp_path, program=holder)
    assert process.pump is not None
    process.pump.drain_seconds = 0.2
    try:
        assert finish(process) == 0
        assert not process.pump.finished  # `sleep` still holds stdout
        assert [r["values"] for r in reports(tmp_path / "trial")] == [{"loss": 0.5}]
    finally:
        process.kill()  # `sleep`, in the program's process group
