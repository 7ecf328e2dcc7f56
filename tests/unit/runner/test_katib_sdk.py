"""The Katib SDK's report_metrics, answered by kubetune, with and without the real SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kubetune_runner.katib import report_metrics

PROGRAM = textwrap.dedent(
    """
    import sys
    from kubeflow.katib import report_metrics
    assert report_metrics.__module__ == "kubetune_runner.katib", report_metrics.__module__
    report_metrics({"loss": "0.5", "accuracy": 0.75})
    report_metrics({"loss": 0.25, "epoch": 7})
    print("args", sys.argv[1:])
    """
)


def run(
    tmp_path: Path, *args: str, pythonpath: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(PROGRAM)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    env["KUBETUNE_LOCAL_DIR"] = str(tmp_path)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "kubetune_runner.katib", str(script), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def reports(tmp_path: Path) -> list[tuple[int, dict[str, float]]]:
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    return [(x["step"], x["values"]) for x in map(json.loads, lines)]


def test_unchanged_katib_code_reports_to_the_trial_without_the_sdk(tmp_path: Path) -> None:
    result = run(tmp_path, "--lr=0.1")
    assert result.returncode == 0, result.stderr
    assert "args ['--lr=0.1']" in result.stdout
    assert reports(tmp_path) == [(0, {"loss": 0.5, "accuracy": 0.75}), (7, {"loss": 0.25})]


def test_with_the_real_sdk_installed_only_report_metrics_is_replaced(tmp_path: Path) -> None:
    sdk = tmp_path / "site" / "kubeflow" / "katib"
    sdk.mkdir(parents=True)
    (sdk.parent / "__init__.py").write_text("")
    (sdk / "__init__.py").write_text(
        "class KatibClient: pass\n"
        "def report_metrics(metrics, db_manager_address='x', timeout=1):\n"
        "    raise RuntimeError('would call the Katib DB manager')\n"
    )
    global PROGRAM
    extra = "\nfrom kubeflow.katib import KatibClient\nprint('client', KatibClient.__module__)\n"
    original, PROGRAM = PROGRAM, PROGRAM + extra
    try:
        result = run(tmp_path, pythonpath=str(sdk.parent.parent))
    finally:
        PROGRAM = original
    assert result.returncode == 0, result.stderr
    assert "client kubeflow.katib" in result.stdout
    assert reports(tmp_path)[1] == (7, {"loss": 0.25})


def test_a_value_that_is_not_a_number_names_the_metric() -> None:
    with pytest.raises(ValueError, match="report_metrics: loss='high' is not a number"):
        report_metrics({"loss": "high"})


def test_usage_without_a_program(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubetune_runner.katib"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "usage: python -m kubetune_runner.katib" in result.stderr
