"""Check a study manifest the way the cluster would, and say what is wrong in the user's terms.

``kubectl apply`` rejects what the CRD schema and its CEL rules can express; the operator puts
the rest (algorithm settings, a finite space for grid search, initialTrials inside the space)
into an InvalidSpec condition. ``kubetune validate`` and ``kubetune run`` run every one of
those checks offline, and each error names the field path and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubetune.api.study import StudySpec, TuningStudy
from kubetune.engine import Planner
from kubetune.space import SearchSpace
from kubetune.template import references


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidStudy(ValueError):
    """A manifest that cannot run; ``errors`` lists every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def parse_study(document: Mapping[str, Any]) -> TuningStudy:
    """A validated study, or InvalidStudy naming every bad field."""
    try:
        study = TuningStudy.model_validate(document)
    except ValidationError as error:
        raise InvalidStudy([_from_pydantic(e) for e in error.errors()]) from None
    errors = semantic_errors(study.spec, study.metadata.name)
    if errors:
        raise InvalidStudy(errors)
    return study


def semantic_errors(spec: StudySpec, name: str) -> list[FieldError]:
    """What the schema cannot say: initial trials in the space, algorithm and rule settings."""
    errors: list[FieldError] = []
    space = SearchSpace.from_specs(spec.parameters)
    for i, params in enumerate(spec.initial_trials):
        for problem in space.errors(params):
            errors.append(FieldError(f"spec.initialTrials[{i}]", problem))
    errors.extend(_template_errors(spec))
    try:
        Planner(spec, name)
    except ValueError as error:  # settings, grid on a continuous space, missing resource
        errors.extend(_planner_errors(str(error), spec))
    return errors


def _template_errors(spec: StudySpec) -> list[FieldError]:
    container = spec.trial_template.container()
    path = "spec.trialTemplate.job.template.spec.containers"
    errors = []
    if not container.get("command") and not container.get("args"):
        errors.append(
            FieldError(path, "the primary container has no command or args; kubetune runs them")
        )
    names = {p.name for p in spec.parameters}
    for reference in sorted(references(container)):
        if reference.startswith("params.") and reference[len("params.") :] not in names:
            errors.append(
                FieldError(path, f"${{{reference}}} names no parameter; known: {sorted(names)}")
            )
        if reference == "budget" and spec.budget.resource is None:
            errors.append(FieldError(path, "${budget} needs spec.budget.resource {name, min, max}"))
    return errors


def _planner_errors(text: str, spec: StudySpec) -> list[FieldError]:
    """Settings errors come as 'spec.path: message; ...'; others concern the algorithm."""
    pieces = text.split("; ")
    if all(piece.startswith("spec.") and ": " in piece for piece in pieces):
        return [FieldError(*piece.split(": ", 1)) for piece in pieces]
    return [FieldError("spec.algorithm", f"{spec.algorithm.name}: {text}")]


def _from_pydantic(error: Any) -> FieldError:
    path = ""
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in _UNION_TAGS or str(part).startswith(("function-", "list[", "dict[")):
            continue
        else:
            path += ("." if path else "") + str(part)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field; check its spelling against docs/manifest.md"
    elif error["type"] == "missing":
        message = "required field is missing"
    return FieldError(path or "(document)", message)


# pydantic puts the union member it tried into the location; users never wrote those.
_UNION_TAGS = {"float", "int", "str", "bool"}
