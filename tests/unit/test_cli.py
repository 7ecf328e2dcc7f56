"""The `kubetune` command as a user meets it: help, validate, results and the end of a run."""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubetune.cli import DESCRIPTION, _parser, main

EXAMPLES = Path(__file__).parents[2] / "examples"
REPORT = (
    "import sys; from kubetune_runner import report; x = float(sys.argv[1]); "
    "report(a=x, b=(x - 0.6) ** 2, latency=3 * x)"
)


def study(name: str = "mo", **spec: Any) -> dict[str, Any]:
    """Two objectives (a, b) and an extra metric (latency), reported by a one-line program."""
    document: dict[str, Any] = {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": name},
        "spec": {
            "objectives": [
                {"metric": "a", "direction": "minimize"},
                {"metric": "b", "direction": "minimize"},
            ],
            "metrics": ["latency"],
            "parameters": [
                {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
                {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
                {
                    "name": "momentum_of_the_optimizer",
                    "type": "float",
                    "low": 0.5,
                    "high": 0.99,
                    "when": {"optimizer": ["sgd"]},
                },
            ],
            "initialTrials": [
                {"x": 0.2, "optimizer": "adam"},
                {"x": 0.8, "optimizer": "sgd", "momentum_of_the_optimizer": 0.9},
                {"x": 0.9, "optimizer": "adam"},
            ],
            "budget": {"maxTrials": 3, "parallelTrials": 3},
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "t", "command": ["python", "-c", REPORT, "${params.x}"]}
                            ]
                        }
                    }
                }
            },
        },
    }
    document["spec"].update(spec)
    return document


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """A multi-objective study run to its end through `kubetune run`: state dir, exit code,
    what it printed."""
    root = tmp_path_factory.mktemp("mo")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(study()))
    capture = pytest.MonkeyPatch()
    out = io.StringIO()
    capture.setattr("sys.stdout", out)
    try:
        code = main(["run", str(path), "--state-dir", str(root / "state")])
    finally:
        capture.undo()
    return root / "state", code, out.getvalue()


def test_a_multi_objective_run_shows_its_pareto_front_and_succeeds(
    finished: tuple[Path, int, str],
) -> None:
    _, code, printed = finished
    assert code == 0
    assert "no trial succeeded" not in printed
    # x=0.2 and x=0.8 trade a against b; x=0.9 is dominated by x=0.8.
    # Hypervolume up to the default reference point (0.97, 0.172): 0.77 * 0.012 + 0.17 * 0.12.
    assert "Pareto front (2 trials of 3 feasible, hypervolume 0.02964; marked * above):" in printed
    assert "  mo-0: a=0.2, b=0.16  (x=0.2, optimizer=adam)" in printed
    assert "  mo-1: a=0.8, b=0.04  (x=0.8, optimizer=sgd, momentum_of_the_optimizer=0.9)" in printed
    assert "mo-2:" not in printed.split("Pareto front")[1]


def results(state: Path, *extra: str, capsys: Any) -> str:
    assert main(["results", "mo", "--state-dir", str(state), *extra]) == 0
    out: str = capsys.readouterr().out
    return out


COLUMNS = [
    "trial",
    "phase",
    "pareto",
    "a",
    "b",
    "latency",
    "params.x",
    "params.optimizer",
    "params.momentum_of_the_optimizer",
    "seconds",
    "reason",
    "message",
]


def test_results_columns_follow_the_spec_in_csv_and_json(
    finished: tuple[Path, int, str], capsys: Any
) -> None:
    state = finished[0]
    rows = list(csv.DictReader(io.StringIO(results(state, "--format", "csv", capsys=capsys))))
    assert list(rows[0]) == COLUMNS
    assert [r["pareto"] for r in rows] == ["True", "True", "False"]
    assert [float(r["latency"]) for r in rows] == pytest.approx([0.6, 2.4, 2.7])
    assert [r["params.momentum_of_the_optimizer"] for r in rows] == ["", "0.9", ""]

    records = json.loads(results(state, "--format", "json", capsys=capsys))
    assert [list(r) for r in records] == [COLUMNS] * 3
    assert records[0]["latency"] == pytest.approx(0.6)
    assert records[0]["params.momentum_of_the_optimizer"] is None


def test_a_piped_results_table_is_printed_whole(
    finished: tuple[Path, int, str], capsys: Any
) -> None:
    table = results(finished[0], capsys=capsys)
    header = next(line for line in table.splitlines() if "trial" in line and "phase" in line)
    assert len(header) > 80
    for column in COLUMNS:
        assert f" {column} " in header
    assert "…" not in table
    assert "Pareto front (2 trials" in table


def test_top_limits_the_rows(finished: tuple[Path, int, str], capsys: Any) -> None:
    rows = json.loads(results(finished[0], "--format", "json", "--top", "1", capsys=capsys))
    assert [r["trial"] for r in rows] == [0]


def test_results_of_a_missing_study_name_what_is_there(
    finished: tuple[Path, int, str], capsys: Any
) -> None:
    assert main(["results", "nope", "--state-dir", str(finished[0])]) == 1
    err = capsys.readouterr().err
    assert f"error: no local study 'nope' under {finished[0]} (studies there: mo)" in err


def test_validate_checks_every_file_and_names_each(tmp_path: Path, capsys: Any) -> None:
    good = EXAMPLES / "branin.yaml"
    syntax = tmp_path / "syntax.yaml"
    syntax.write_text("spec:\n  objective: {metric: loss\n")
    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("kind: ConfigMap\n")
    missing = tmp_path / "missing.yaml"

    assert main(["validate", str(syntax), str(missing), str(good), str(invalid), str(good)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{good}: ok (branin, bayesopt)"] * 2
    err = captured.err
    assert f"{syntax}: not valid YAML: " in err and "(line 3, column 1)" in err
    assert f"{missing}: cannot read it: No such file or directory" in err
    assert f"{invalid}: invalid" in err
    assert "<unicode string>" not in err


def test_run_names_the_file_of_a_yaml_error(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: b: c\n")
    assert main(["run", str(path), "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {path}: not valid YAML: ")


def _actions(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{name} {n}", a) for n, a in _actions(sub)]
        else:
            found.append((action.dest, action))
    return found


def test_every_command_and_option_has_help_for_users(capsys: Any) -> None:
    parser = _parser()
    undocumented = [name for name, action in _actions(parser) if not action.help]
    assert undocumented == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert all(choice.help for choice in commands._choices_actions)

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert DESCRIPTION.splitlines()[0] in text
    assert "examples:" in text and "kubetune results resnet-lr --cluster" in text
    assert "thin function" not in text  # the module docstring is for developers


def test_namespace_without_cluster_is_refused(tmp_path: Path, capsys: Any) -> None:
    assert main(["results", "s", "--state-dir", str(tmp_path), "-n", "ml"]) == 1
    assert "add --cluster" in capsys.readouterr().err


def test_results_cluster_without_a_kubeconfig(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert main(["results", "s", "--cluster"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no kubeconfig found (looked for ~/.kube/config)")
    assert "--kubeconfig PATH" in err
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "a"))
    assert main(["results", "s", "--cluster"]) == 1
    assert f"error: no kubeconfig found (looked for {tmp_path / 'a'})" in capsys.readouterr().err

    assert main(["results", "s", "--cluster", "--kubeconfig", str(tmp_path / "nope")]) == 1
    assert f"error: no kubeconfig at {tmp_path / 'nope'}" in capsys.readouterr().err


def test_results_cluster_that_does_not_answer(tmp_path: Path, capsys: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    assert main(["results", "s", "--cluster", "--kubeconfig", str(kubeconfig)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach the cluster at http://127.0.0.1:{port}")
    assert "Traceback" not in err
