"""Local mode end to end: a real process reports into the trial directory `kubetune run` reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kubetune_runner import _env
from kubetune_runner._values import check_metrics, check_step

RUNNER_ENV = (_env.PARAMS, _env.OBJECTIVE, _env.LOCAL_DIR, _env.TRIAL, _env.NAMESPACE)


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in RUNNER_ENV}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def read_reports(directory: Path) -> list[dict]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_a_training_script_reports_and_sees_the_stop_file(tmp_path: Path) -> None:
    code = """
        from pathlib import Path
        from kubetune_runner import params, report, should_stop

        p = params()
        print(p["lr"], p["optimizer"])
        report(step=0, val_accuracy=0.5, loss=2)
        report(step=1, val_accuracy=0.75)
        report(final_loss=0.25)
        print(should_stop())
        Path(__import__("os").environ["KUBETUNE_LOCAL_DIR"], "stop").touch()
        print(should_stop())
    """
    env = {_env.LOCAL_DIR: str(tmp_path), _env.PARAMS: '{"lr": 0.01, "optimizer": "adam"}'}
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0.01", "adam", "False", "True"]

    reports = read_reports(tmp_path)
    assert [(r["step"], r["values"]) for r in reports] == [
        (0, {"val_accuracy": 0.5, "loss": 2.0}),
        (1, {"val_accuracy": 0.75}),
        (None, {"final_loss": 0.25}),
    ]
    times = [r["time"] for r in reports]
    assert times == sorted(times) and all(isinstance(t, float) for t in times)


def test_reports_of_a_killed_process_are_on_disk(tmp_path: Path) -> None:
    code = """
        import os, signal
        from kubetune_runner import report
        report(step=3, acc=0.5)
        os.kill(os.getpid(), signal.SIGKILL)
    """
    result = run_python(code, {_env.LOCAL_DIR: str(tmp_path)})
    assert result.returncode == -9
    assert read_reports(tmp_path)[0]["values"] == {"acc": 0.5}


def test_outside_a_trial_the_error_names_the_variables() -> None:
    code = """
        from kubetune_runner import report
        report(acc=1.0)
    """
    result = run_python(code, {})
    assert result.returncode != 0
    assert "KUBETUNE_LOCAL_DIR" in result.stderr and "KUBETUNE_TRIAL" in result.stderr

    result = run_python(code, {_env.PARAMS: "{}"})
    assert "KUBETUNE_PARAMS is set" in result.stderr


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "KUBETUNE_PARAMS is not set"),
        ({_env.PARAMS: "{lr: 1}"}, "not valid JSON"),
        ({_env.PARAMS: "[1]"}, "must be a JSON object"),
    ],
)
def test_params_errors_are_clear(environ: dict[str, str], message: str) -> None:
    with pytest.raises(_env.ConfigurationError, match=message):
        _env.params(environ)


def test_objectives_from_the_environment() -> None:
    objective = json.dumps(
        [{"metric": "acc", "direction": "maximize"}, {"metric": "ms", "direction": "minimize"}]
    )
    assert _env.objectives({_env.OBJECTIVE: objective}) == [
        _env.Objective("acc", "maximize"),
        _env.Objective("ms", "minimize"),
    ]
    assert _env.objectives({}) == []
    with pytest.raises(_env.ConfigurationError, match="direction"):
        _env.objectives({_env.OBJECTIVE: '[{"metric": "acc", "direction": "up"}]'})


def test_local_mode_wins_over_cluster_mode(tmp_path: Path) -> None:
    config = _env.transport_config({_env.LOCAL_DIR: str(tmp_path), _env.TRIAL: "t-0"})
    assert config == _env.LocalConfig(str(tmp_path))


@pytest.mark.parametrize(
    ("metrics", "error", "message"),
    [
        ({}, ValueError, "at least one metric"),
        ({"acc": float("nan")}, ValueError, "'acc' is nan"),
        ({"loss": float("-inf")}, ValueError, "'loss' is -inf"),
        ({"ok": True}, TypeError, "'ok' must be a number"),
        ({"acc": "0.9"}, TypeError, "'acc' must be a number"),
    ],
)
def test_bad_metrics_are_refused_by_name(
    metrics: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        check_metrics(metrics)


def test_steps() -> None:
    assert check_step(None) is None
    assert check_step(3) == 3
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises((TypeError, ValueError)):
            check_step(bad)


def test_numpy_scalars_are_numbers() -> None:
    np = pytest.importorskip("numpy")
    assert check_metrics({"acc": np.float32(0.5), "n": np.int64(3)}) == {"acc": 0.5, "n": 3.0}
    assert check_step(np.int64(7)) == 7
    with pytest.raises(TypeError):
        check_metrics({"ok": np.bool_(True)})
