"""Katib's File collector: the runner follows a metrics file the program writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kubetune_runner._metrics_file import MetricsFile, follow, parse_json_line

WRAPPER = [sys.executable, "-m", "kubetune_runner"]


class Recorder:
    def __init__(self) -> None:
        self.reports: list[tuple[int | None, dict[str, float]]] = []

    def __call__(self, step: int | None, values: dict[str, float]) -> None:
        self.reports.append((step, values))


def test_complete_lines_are_reported_as_they_arrive_and_a_partial_one_at_the_end(
    tmp_path: Path,
) -> None:
    path, record = tmp_path / "metrics.log", Recorder()
    follower = MetricsFile(str(path), "TEXT", record, None)
    follower.poll()  # no file yet: nothing, no error
    path.write_text("epoch=1 loss=0.5\nstarting epoch 2\nepoch=2 lo")
    follower.poll()
    assert record.reports == [(1, {"loss": 0.5})]
    with path.open("a") as handle:
        handle.write("ss=0.25")
    follower.poll()
    assert len(record.reports) == 1  # still no newline
    follower.poll(final=True)
    assert record.reports[-1] == (2, {"loss": 0.25})


def test_a_truncated_or_replaced_file_is_read_from_the_start(tmp_path: Path) -> None:
    path, record = tmp_path / "metrics.log", Recorder()
    follower = MetricsFile(str(path), "TEXT", record, None)
    path.write_text("loss=0.9\nloss=0.8\n")
    follower.poll()
    path.write_text("loss=0.1\n")  # truncated and rewritten, shorter
    follower.poll()
    replacement = tmp_path / "new.log"
    replacement.write_text("loss=0.05\nloss=0.04\nloss=0.03\n")
    os.replace(replacement, path)  # rotated: a new file of the same name
    follower.poll()
    assert [v["loss"] for _, v in record.reports] == [0.9, 0.8, 0.1, 0.05, 0.04, 0.03]


def test_katibs_json_format_with_numbers_as_strings(tmp_path: Path) -> None:
    path, record = tmp_path / "metrics.json", Recorder()
    lines = [
        {"checkpoint": "", "global_step": "0", "loss": "0.22", "timestamp": 1638422847.2},
        {"epoch": 3, "loss": 0.125, "accuracy": "0.9"},
        "not json",
    ]
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    MetricsFile(str(path), "JSON", record, {"loss", "accuracy"}).poll()
    assert record.reports == [(None, {"loss": 0.22}), (3, {"loss": 0.125, "accuracy": 0.9})]


def test_follow_reads_what_was_written_before_the_block_ended(tmp_path: Path) -> None:
    path, record = tmp_path / "m.log", Recorder()
    with follow(str(path), "TEXT", record, None, poll_seconds=3600):
        path.write_text("step=1 acc=0.5\nstep=2 acc=0.75")
    assert record.reports == [(1, {"acc": 0.5}), (2, {"acc": 0.75})]
    with follow(None, "TEXT", record, None):  # no file: nothing to follow
        pass


@given(st.text(max_size=200))
def test_parsing_a_json_line_never_raises(line: str) -> None:
    parse_json_line(line)


def test_the_wrapper_reports_from_the_file_and_not_from_stdout(tmp_path: Path) -> None:
    metrics = tmp_path / "out" / "metrics.log"
    program = textwrap.dedent(
        f"""
        import os
        os.makedirs({str(metrics.parent)!r})
        print("loss=123")  # on stdout: not a report when a file is followed
        with open({str(metrics)!r}, "w") as f:
            for step in range(3):
                f.write(f"epoch={{step}} loss={{1.0 / (step + 1)}}\\n")
                f.flush()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    env["KUBETUNE_LOCAL_DIR"] = str(tmp_path)
    command = [*WRAPPER, "--metrics-file", str(metrics), "--", sys.executable, "-c", program]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "loss=123" in result.stdout
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["values"]["loss"]) for x in lines] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]


def test_an_earlier_runs_lines_are_skipped_unless_the_file_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "m.log"
    path.write_text("loss=9\n")
    appended, rewritten = Recorder(), Recorder()
    with follow(str(path), "TEXT", appended, None, poll_seconds=3600), path.open("a") as handle:
        handle.write("loss=1\n")
    with follow(str(path), "TEXT", rewritten, None, poll_seconds=3600):
        path.write_text("loss=2\nloss=3\nloss=4\n")  # same file, truncated and written anew
    assert [v["loss"] for _, v in appended.reports] == [1]
    assert [v["loss"] for _, v in rewritten.reports] == [2, 3, 4]
