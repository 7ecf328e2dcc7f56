"""Render the Helm chart in `helm/kubetune` with the test cluster's helm binary.

helm is built with the cluster binaries (`make cluster-build`, `tests/cluster/build.py`);
its config, cache and data directories are kept under `~/.cache/kubetune-tools/helm-home`
so a run neither reads nor writes the user's helm setup.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import build
from tests.tools.kubeconform import tools_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "helm" / "kubetune"
ALL_OPTIONS = CHART / "ci" / "all-options-values.yaml"
VALUE_SETS = {"defaults": (), "all-options": (str(ALL_OPTIONS),)}
"""The two renderings every chart test checks: the defaults and every option turned on."""


def helm_binary() -> Path:
    path = build.binary("helm")
    if not path.exists():
        pytest.skip(f"helm is not built ({path}); `make cluster-build` builds it")
    return path


def helm_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    home = tools_dir() / "helm-home"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    env.update(extra or {})
    return env


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(helm_binary()), *args], capture_output=True, text=True, env=helm_env()
    )
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def template(
    values_files: Sequence[str] = (),
    *,
    sets: Sequence[str] = (),
    namespace: str = "kubetune",
    release: str = "kubetune",
    include_crds: bool = False,
    show_only: str | None = None,
) -> str:
    args = ["template", release, str(CHART), "--namespace", namespace]
    for path in values_files:
        args += ["--values", path]
    for item in sets:
        args += ["--set", item]
    if include_crds:
        args.append("--include-crds")
    if show_only:
        args += ["--show-only", show_only]
    return helm(*args).stdout


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]
