"""``${params.NAME}``, ``${budget}``, ``${trial}``, ``${checkpointDir}`` and ``${restoreFrom}`` in a
trial template's command, args and env.

Both backends render the same template — the operator into a Job, the laptop runner into a
subprocess — so substitution lives here once. Values are formatted so that a program parsing
its arguments gets back exactly the number it was given (``repr`` of floats, no rounding),
and a budget that is a whole number reads as an integer (``27``, never ``27.0``), here and in
the ``KUBETUNE_BUDGET`` variable alike (both use :func:`format_number`). ``${checkpointDir}``
and ``${restoreFrom}`` are the locations of ``KUBETUNE_CHECKPOINT_DIR`` and
``KUBETUNE_RESTORE_FROM``; each is empty when the trial has none (a fresh start restores
nothing).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kubetune.api.study import ParameterValue

_REFERENCE = re.compile(
    r"\$\{(params\.([A-Za-z_][A-Za-z0-9_.-]*)|budget|trial|checkpointDir|restoreFrom)\}"
)
CHECKPOINT_REFERENCES = frozenset({"checkpointDir", "restoreFrom"})
"""References that ask for checkpoint locations: a study using them keeps checkpoints."""


class TemplateError(ValueError):
    """A template that refers to something the study does not define."""


def format_value(value: ParameterValue) -> str:
    """A parameter as text: booleans in YAML/JSON spelling, numbers exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # str() of a float is its shortest exact repr


def format_number(value: float) -> str:
    """A budget as text: ``27`` for 27.0, so ``int(...)`` of it works; else the exact repr."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def substitute(
    text: str,
    params: Mapping[str, ParameterValue],
    trial: str,
    budget: float | None = None,
    checkpoint_dir: str | None = None,
    restore_from: str | None = None,
) -> str:
    """Replace every reference; a parameter inactive for this trial, and a checkpoint
    location the trial does not have, become an empty string."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1) == "trial":
            return trial
        if match.group(1) == "checkpointDir":
            return checkpoint_dir or ""
        if match.group(1) == "restoreFrom":
            return restore_from or ""
        if match.group(1) == "budget":
            if budget is None:
                raise TemplateError("${budget} is used but the study has no budget.resource")
            return format_number(budget)
        name = match.group(2)
        return format_value(params[name]) if name in params else ""

    return _REFERENCE.sub(replace, text)


def references(container: Mapping[str, Any]) -> set[str]:
    """Every ``${...}`` expression used in a container's command, args and env values."""
    found: set[str] = set()
    for text in _texts(container):
        found.update(match.group(1) for match in _REFERENCE.finditer(text))
    return found


def render_container(
    container: Mapping[str, Any],
    params: Mapping[str, ParameterValue],
    trial: str,
    budget: float | None = None,
    checkpoint_dir: str | None = None,
    restore_from: str | None = None,
) -> dict[str, Any]:
    """A copy of the container with command, args and env values substituted."""

    def render(text: object) -> str:
        return substitute(str(text), params, trial, budget, checkpoint_dir, restore_from)

    rendered = dict(container)
    for key in ("command", "args"):
        if key in container:
            rendered[key] = [render(a) for a in container[key]]
    if "env" in container:
        rendered["env"] = [
            {**var, "value": render(var["value"])} if "value" in var else dict(var)
            for var in container["env"]
        ]
    return rendered


def _texts(container: Mapping[str, Any]) -> list[str]:
    texts = [str(a) for key in ("command", "args") for a in container.get(key) or []]
    texts += [str(v["value"]) for v in container.get("env") or [] if "value" in v]
    return texts
