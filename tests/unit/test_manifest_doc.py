"""docs/manifest.md documents every field of the models, and only fields that exist."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from kubetune.api.study import StudySpec, StudyStatus
from kubetune.api.trial import TrialSpec, TrialStatus

DOC = (Path(__file__).parents[2] / "docs" / "manifest.md").read_text()


def field_paths(model: type[BaseModel], prefix: str) -> set[str]:
    paths = set()
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        paths.add(path)
        for outer in (info.annotation, *typing.get_args(info.annotation)):
            for inner in (outer, *typing.get_args(outer)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    paths |= field_paths(inner, path + ".")
    return paths


MODELS = [
    (StudySpec, "spec."),
    (StudyStatus, "status."),
    (TrialSpec, "spec."),
    (TrialStatus, "status."),
]


def test_every_model_field_is_documented() -> None:
    documented = set(re.findall(r"`((?:spec|status)\.[A-Za-z.]+)`", DOC))
    missing = set().union(*(field_paths(m, p) for m, p in MODELS)) - documented
    assert not missing, f"document these in docs/manifest.md: {sorted(missing)}"


def test_every_documented_field_exists() -> None:
    known = set().union(*(field_paths(m, p) for m, p in MODELS))
    documented = set(re.findall(r"`((?:spec|status)\.[A-Za-z.]+)`", DOC))
    assert not documented - known, sorted(documented - known)
