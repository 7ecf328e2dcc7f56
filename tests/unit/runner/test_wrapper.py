"""The ``kubetune-runner -- CMD`` wrapper end to end, with real child processes (local mode)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubetune_runner
from kubetune_runner.cli import copy_and_parse

WRAPPER = [sys.executable, "-m", "kubetune_runner"]


@pytest.fixture
def trial_dir(tmp_path: Path) -> Path:
    return tmp_path


def environment(trial_dir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    if trial_dir is not None:
        env["KUBETUNE_LOCAL_DIR"] = str(trial_dir)
    return env


def wrap(
    trial_dir: Path | None, code: str, *options: str, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    command = [*WRAPPER, *options, "--", sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.run(command, env=environment(trial_dir), capture_output=True, timeout=timeout)


def start(trial_dir: Path, code: str, *options: str) -> subprocess.Popen[bytes]:
    command = [*WRAPPER, *options, "--", sys.executable, "-c", textwrap.dedent(code)]
    return subprocess.Popen(
        command, env=environment(trial_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def reports(trial_dir: Path) -> list[tuple[int | None, dict[str, float]]]:
    path = trial_dir / "metrics.jsonl"
    if not path.exists():
        return []
    return [
        (line["step"], line["values"]) for line in map(json.loads, path.read_text().splitlines())
    ]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Wrappers started by a test; killed if the test fails half-way."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


OUTPUT = (
    b"Loading model=resnet50\n"
    b"epoch=1 loss=0.5, acc=0.7\n"
    b"\xff\xfe not utf-8 \x00 acc=0.1 \r progress 10%\rprogress 20%\r\n"
    + b'{"step": 2, "acc": 0.8, "note": "json"}\n'
    + b"x" * 200_000
    + b" acc=0.99\n"  # too long to parse, passed through anyway
    + b"step=3 acc=0.9"  # no final newline
)


def test_output_passes_through_byte_for_byte_and_metrics_are_reported(
    trial_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    source = tmp_path_factory.mktemp("program") / "output.bin"
    source.write_bytes(OUTPUT)
    code = f"""
        import sys
        data = open({str(source)!r}, "rb").read()
        for start in range(0, len(data), 777):
            sys.stdout.buffer.write(data[start:start + 777])
            sys.stdout.buffer.flush()
        sys.stderr.buffer.write(b"warning: \\xff stderr=1\\n")
    """
    result = wrap(trial_dir, code)
    assert result.returncode == 0
    assert result.stdout == OUTPUT
    assert result.stderr == b"warning: \xff stderr=1\n"
    assert reports(trial_dir) == [
        (1, {"loss": 0.5, "acc": 0.7}),
        (None, {"acc": 0.1}),
        (2, {"acc": 0.8}),
        (3, {"acc": 0.9}),
    ]


def test_metrics_option_restricts_names(trial_dir: Path) -> None:
    result = wrap(trial_dir, "print('epoch=1 loss=0.5 acc=0.7 lr=0.1')", "--metrics", "acc,loss")
    assert result.returncode == 0
    assert reports(trial_dir) == [(1, {"loss": 0.5, "acc": 0.7})]


def test_a_number_with_trailing_junk_is_warned_about_once_naming_the_line(
    trial_dir: Path,
) -> None:
    code = """
        for step in range(3):
            print(f"step={step} loss=0.5abc acc=0.{step + 1} model=resnet50")
    """
    result = wrap(trial_dir, code)
    assert result.returncode == 0
    warnings = result.stderr.decode().splitlines()
    assert warnings == [
        "kubetune-runner: not a number, not reported: loss=0.5abc "
        "(in line 'step=0 loss=0.5abc acc=0.1 model=resnet50')"
    ]
    assert reports(trial_dir) == [(0, {"acc": 0.1}), (1, {"acc": 0.2}), (2, {"acc": 0.3})]


def test_a_nan_objective_is_reported_as_not_finite(trial_dir: Path) -> None:
    result = wrap(trial_dir, "print('step=1 loss=0.5'); print('step=2 loss=nan')")
    assert result.returncode == 0
    lines = [json.loads(line) for line in (trial_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(line["values"], line.get("nonFinite")) for line in lines] == [
        ({"loss": 0.5}, None),
        ({}, {"loss": "nan"}),
    ]


def test_no_parse_leaves_reporting_to_the_program(trial_dir: Path) -> None:
    code = """
        from kubetune_runner import report
        print("acc=0.1")
        report(step=5, acc=0.5)
    """
    result = wrap(trial_dir, code, "--no-parse")
    assert result.stdout == b"acc=0.1\n"
    assert reports(trial_dir) == [(5, {"acc": 0.5})]


def test_partial_lines_are_not_held_back(trial_dir: Path, running: list) -> None:
    code = """
        import sys, time
        sys.stdout.write("downloading... "); sys.stdout.flush()
        time.sleep(30)
    """
    wrapper = start(trial_dir, code)
    running.append(wrapper)
    assert wrapper.stdout is not None
    ready, _, _ = select.select([wrapper.stdout], [], [], 10)
    assert ready, "the partial line did not come through"
    assert os.read(wrapper.stdout.fileno(), 100) == b"downloading... "


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("pass", 0),
        ("raise SystemExit(3)", 3),
        ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", 128 + signal.SIGTERM),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 128 + signal.SIGKILL),
    ],
)
def test_exit_status_is_the_programs(trial_dir: Path, code: str, expected: int) -> None:
    assert wrap(trial_dir, code).returncode == expected


def test_a_missing_command_exits_127(trial_dir: Path) -> None:
    result = subprocess.run(
        [*WRAPPER, "--", "no-such-program-kubetune"],
        env=environment(trial_dir),
        capture_output=True,
    )
    assert result.returncode == 127
    assert b"no-such-program-kubetune" in result.stderr


def test_without_a_transport_it_says_what_is_missing() -> None:
    result = wrap(None, "print('never runs')")
    assert result.returncode == 2
    assert b"KUBETUNE_LOCAL_DIR" in result.stderr and result.stdout == b""


SLEEPER = """
    import os, signal, sys, time
    {setup}
    print(os.getpid(), flush=True)
    time.sleep(60)
"""


def test_stop_file_ends_the_program_and_exits_zero(trial_dir: Path, running: list) -> None:
    wrapper = start(trial_dir, SLEEPER.format(setup=""), "--stop-poll-seconds=0.1")
    running.append(wrapper)
    assert wrapper.stdout is not None
    child = int(wrapper.stdout.readline())
    (trial_dir / "stop").touch()
    assert wrapper.wait(timeout=10) == 0
    assert wait_until_gone(child)
    assert wrapper.stderr is not None and b"asked to stop" in wrapper.stderr.read()


def test_a_program_ignoring_sigterm_is_killed_after_the_grace(
    trial_dir: Path, running: list
) -> None:
    setup = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    wrapper = start(
        trial_dir,
        SLEEPER.format(setup=setup),
        "--stop-poll-seconds=0.1",
        "--grace-seconds=0.3",
    )
    running.append(wrapper)
    assert wrapper.stdout is not None
    child = int(wrapper.stdout.readline())
    (trial_dir / "stop").touch()
    assert wrapper.wait(timeout=10) == 0
    assert wait_until_gone(child)
    assert wrapper.stderr is not None and b"killing it" in wrapper.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_to_the_wrapper_reach_the_program(
    trial_dir: Path, running: list, signum: signal.Signals
) -> None:
    setup = (
        "signal.signal(signal.SIGTERM, lambda n, f: (print('got', n, flush=True), sys.exit(7)))\n"
        "    signal.signal(signal.SIGINT, signal.getsignal(signal.SIGTERM))"
    )
    wrapper = start(trial_dir, SLEEPER.format(setup=setup))
    running.append(wrapper)
    assert wrapper.stdout is not None
    int(wrapper.stdout.readline())
    wrapper.send_signal(signum)
    assert wrapper.wait(timeout=10) == 7
    assert wrapper.stdout.read() == f"got {int(signum)}\n".encode()


def test_help_and_version() -> None:
    help_text = subprocess.run([*WRAPPER, "--help"], capture_output=True, text=True).stdout
    for word in (
        "--metrics",
        "--no-parse",
        "--stop-poll-seconds",
        "--grace-seconds",
        "KUBETUNE_LOCAL_DIR",
        "KUBETUNE_TRIAL",
        "epoch=3",
        "128+N",
    ):
        assert word in help_text
    version = subprocess.run([*WRAPPER, "--version"], capture_output=True, text=True).stdout
    assert version.strip() == f"kubetune-runner {kubetune_runner.__version__}"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(max_size=300) | st.sampled_from([b"\n", b"\r", b"a=1\n"]), max_size=40))
def test_copy_is_exact_and_lines_are_split_on_line_ends(chunks: list[bytes]) -> None:
    data = b"".join(chunks)
    source, writer = os.pipe()

    def feed() -> None:
        for chunk in chunks:
            os.write(writer, chunk)
        os.close(writer)

    feeder = threading.Thread(target=feed)
    feeder.start()
    lines: list[bytes] = []
    with tempfile.TemporaryFile() as sink:
        copy_and_parse(source, sink.fileno(), lines.append)
        sink.seek(0)
        copied = sink.read()
    feeder.join()
    os.close(source)
    assert copied == data
    parts = re.split(rb"[\r\n]", data)
    assert lines == parts[:-1] + ([parts[-1]] if parts[-1] else [])
