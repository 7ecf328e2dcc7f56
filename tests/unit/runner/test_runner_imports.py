"""The runner goes into any training image: standard library only, Python 3.9 and later."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import kubetune_runner

PACKAGE = Path(kubetune_runner.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))


def test_imports_nothing_outside_the_standard_library() -> None:
    code = """
        import json, sys
        before = set(sys.modules)
        import kubetune_runner, kubetune_runner.cli
        added = {name.split(".")[0] for name in set(sys.modules) - before}
        foreign = added - set(sys.stdlib_module_names) - {"kubetune_runner"}
        # sysconfig's generated data module is stdlib but not listed by name
        print(json.dumps(sorted(n for n in foreign if not n.startswith("_sysconfigdata"))))
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout) == []


def test_declares_no_dependencies() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert "\ndependencies = []\n" in pyproject


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_sources_are_python_3_9_syntax(source: Path) -> None:
    ast.parse(source.read_text(), filename=str(source), feature_version=(3, 9))


def python39() -> str | None:
    candidates = [
        shutil.which("python3.9"),
        *glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "--version"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.startswith("Python 3.9"):
            return candidate
    return None


def test_runs_on_python_3_9(tmp_path: Path) -> None:
    interpreter = python39()
    if interpreter is None:
        pytest.skip("no Python 3.9 interpreter on this machine")
    code = """
        import kubetune_runner.cli
        from kubetune_runner import report, should_stop
        report(step=1, acc=0.5)
        assert not should_stop()
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBETUNE_")}
    env.update(PYTHONPATH=str(PACKAGE.parent), KUBETUNE_LOCAL_DIR=str(tmp_path))
    subprocess.run([interpreter, "-W", "error", "-c", textwrap.dedent(code)], env=env, check=True)
    assert json.loads((tmp_path / "metrics.jsonl").read_text())["values"] == {"acc": 0.5}
