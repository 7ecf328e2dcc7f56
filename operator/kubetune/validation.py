"""Check a study manifest the way the cluster would, and say what is wrong in the user's terms.

``kubectl apply`` rejects what the CRD schema and its CEL rules can express; the operator puts
the rest (algorithm settings, a finite space for grid search, initialTrials inside the space)
into an InvalidSpec condition. ``kubetune validate`` and ``kubetune run`` run every one of
those checks offline, and each error names the field path and the fix.

What a study asks of its algorithm and stopping rule (several objectives, a training
resource) is checked against the capabilities each declares (``kubetune.algorithms``,
``kubetune.stopping``), and a refusal names the ones that can.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubetune import algorithms, stopping
from kubetune.api.capabilities import Capabilities
from kubetune.api.study import NO_RULE, StudySpec, TuningStudy
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
    # The spec is what the user wrote; a cluster object's status is kubetune's own.
    non_finite = non_finite_errors(document.get("spec"), "spec")
    try:
        study = TuningStudy.model_validate(document)
    except ValidationError as error:
        reported = {e.path for e in non_finite}
        errors = [e for e in map(_from_pydantic, error.errors()) if e.path not in reported]
        raise InvalidStudy(non_finite + errors) from None
    if non_finite:  # in a free-form part (the job spec): the models never looked
        raise InvalidStudy(non_finite)
    errors = semantic_errors(study.spec, study.metadata.name)
    if errors:
        raise InvalidStudy(errors)
    return study


def non_finite_errors(node: Any, path: str = "") -> list[FieldError]:
    """Every ``.inf``/``.nan`` anywhere in a manifest, by field path.

    No field of a study can mean infinity or "not a number"; the models refuse them in typed
    fields, and this walk also finds them in free-form ones (settings, the job spec) with the
    same message.
    """
    if isinstance(node, float) and not math.isfinite(node):
        spelt = ".nan" if math.isnan(node) else ("-.inf" if node < 0 else ".inf")
        return [FieldError(path or "(document)", f"{spelt} is not allowed; give a finite number")]
    if isinstance(node, Mapping):
        return [
            error
            for key, child in node.items()
            for error in non_finite_errors(child, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(node, list | tuple):
        return [
            error
            for i, child in enumerate(node)
            for error in non_finite_errors(child, f"{path}[{i}]")
        ]
    return []


def semantic_errors(spec: StudySpec, name: str) -> list[FieldError]:
    """What the schema cannot say: initial trials in the space, algorithm and rule settings,
    and whether the algorithm and rule can do what the study asks."""
    errors: list[FieldError] = []
    space = SearchSpace.from_specs(spec.parameters)
    for i, params in enumerate(spec.initial_trials):
        for problem in space.errors(params):
            errors.append(FieldError(f"spec.initialTrials[{i}]", problem))
    errors.extend(_template_errors(spec))
    capability = capability_errors(spec)
    errors.extend(capability)
    if capability:
        return errors  # building the algorithm would only repeat them less clearly
    try:
        Planner(spec, name)
    except ValueError as error:  # unknown names, settings, grid on a continuous space
        errors.extend(_planner_errors(str(error), spec))
    return errors


def capability_errors(spec: StudySpec) -> list[FieldError]:
    """Unknown algorithm or rule names, and what the study asks of its algorithm and rule
    that they cannot do."""
    errors: list[FieldError] = []
    objectives = len(spec.objective_list)
    algorithm = algorithms.REGISTRY.get(spec.algorithm.name)
    if algorithm is None:
        errors.append(
            FieldError(
                "spec.algorithm.name",
                f"{spec.algorithm.name!r} is not an algorithm; choose one of "
                f"{', '.join(algorithms.REGISTRY)}",
            )
        )
    else:
        caps = algorithm.capabilities
        if objectives > 1 and not caps.several_objectives:
            able = _able(algorithms.REGISTRY, lambda c: c.several_objectives)
            errors.append(
                FieldError(
                    "spec.algorithm.name",
                    f"{algorithm.name} optimizes one objective, this study has {objectives}; "
                    f"choose one that handles several: {able}",
                )
            )
        if spec.constraints and not caps.constraints:
            errors.append(
                FieldError(
                    "spec.algorithm.name",
                    f"{algorithm.name} does not honour spec.constraints; choose one that "
                    f"does: {_able(algorithms.REGISTRY, lambda c: c.constraints)}",
                )
            )
        if caps.needs_resource and spec.budget.resource is None:
            errors.append(
                FieldError(
                    "spec.budget.resource",
                    f"{algorithm.name} hands out a training resource: set "
                    "spec.budget.resource {name, min, max} and pass ${budget} to the trial; "
                    "algorithms that need none: "
                    + _able(algorithms.REGISTRY, lambda c: not c.needs_resource),
                )
            )
        if spec.warm_start is not None and not _warm_startable(caps):
            errors.append(
                FieldError(
                    "spec.warmStart",
                    f"{algorithm.name} keeps a schedule or a population of its own trials and "
                    "cannot start from earlier results; remove warmStart or choose one of "
                    + _able(algorithms.REGISTRY, _warm_startable),
                )
            )
    rule = stopping.REGISTRY.get(spec.early_stopping.rule)
    if rule is None and spec.early_stopping.rule != NO_RULE:
        errors.append(
            FieldError(
                "spec.earlyStopping.rule",
                f"{spec.early_stopping.rule!r} is not a stopping rule; choose one of "
                f"{', '.join(stopping.names())}",
            )
        )
    if rule is not None and objectives > 1 and not rule.capabilities.several_objectives:
        able = _able(stopping.REGISTRY, lambda c: c.several_objectives)
        errors.append(
            FieldError(
                "spec.earlyStopping.rule",
                f"{rule.name} judges one objective, this study has {objectives}; "
                f"choose one that handles several: {able or stopping.NO_RULE}",
            )
        )
    return errors


def _warm_startable(capabilities: Capabilities) -> bool:
    """Warm trials are finished trials of no bracket, generation or lineage: only an
    algorithm that reads the history as plain (parameters, values) can use them."""
    return not (capabilities.population or capabilities.stops_trials or capabilities.needs_resource)


def _able(
    registry: Mapping[str, algorithms.Algorithm | stopping.Rule],
    can: Callable[[Capabilities], bool],
) -> str:
    return ", ".join(name for name, d in registry.items() if can(d.capabilities))


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
    inner, _, rest = message.partition(": ")
    if rest and inner.startswith(f"{path}.") and " " not in inner:
        path, message = inner, rest  # a model-level check that names its own field
    return FieldError(path or "(document)", message)


# pydantic puts the union member it tried into the location; users never wrote those.
_UNION_TAGS = {"float", "int", "str", "bool"}
