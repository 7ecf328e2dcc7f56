"""Installing kubetune prints no setuptools deprecation warnings (a fresh `make run` is quiet).

setuptools deprecated the ``project.license = {text = ...}`` table in favour of an SPDX
expression string, which it understands from version 77 on; both distributions must use the
string and require a setuptools that reads it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROJECTS = [ROOT / "pyproject.toml", ROOT / "trial-runner" / "pyproject.toml"]
SPDX_SETUPTOOLS = 77
"""The first setuptools that reads ``project.license`` as an SPDX expression."""


@pytest.mark.parametrize("path", PROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_license_is_an_spdx_string_that_the_required_setuptools_reads(path: Path) -> None:
    project = tomllib.loads(path.read_text())
    assert project["project"]["license"] == "Apache-2.0"
    (requirement,) = [r for r in project["build-system"]["requires"] if "setuptools" in r]
    minimum = re.fullmatch(r"setuptools>=(\d+)(\.\d+)*", requirement)
    assert minimum is not None and int(minimum.group(1)) >= SPDX_SETUPTOOLS
