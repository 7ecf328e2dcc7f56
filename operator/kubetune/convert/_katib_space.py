"""Katib ``spec.parameters`` → kubetune ``spec.parameters``.

Katib writes every number of a ``feasibleSpace`` as a string and names four parameter types
(double, int, discrete, categorical) and four distributions. kubetune has float, int and
categorical parameters, uniform or log-uniform; a discrete list becomes a categorical of
numbers, and the normal distributions, which kubetune does not sample, become the uniform
ones over the same range with a note.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import Any

from kubetune.api.study import ParameterType, ParameterValue
from kubetune.convert.notes import ConversionError, Note, NoteKind


class KatibParameterType(enum.StrEnum):
    DOUBLE = "double"
    INT = "int"
    DISCRETE = "discrete"
    CATEGORICAL = "categorical"


class KatibDistribution(enum.StrEnum):
    UNIFORM = "uniform"
    LOG_UNIFORM = "logUniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"

    @property
    def is_log(self) -> bool:
        return self in (KatibDistribution.LOG_UNIFORM, KatibDistribution.LOG_NORMAL)


def number(value: Any, source: str) -> float | int:
    """A Katib number (usually a string such as ``"0.01"``); ints stay ints."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConversionError(source, f"expected a number, got {value!r}")
    try:
        parsed = float(value)
    except ValueError:
        raise ConversionError(source, f"expected a number, got {value!r}") from None
    if not math.isfinite(parsed):
        raise ConversionError(source, f"expected a finite number, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and _looks_integral(value)):
        return int(parsed)
    return parsed


def _looks_integral(text: str) -> bool:
    return text.strip().lstrip("+-").isdigit()


def convert_parameter(
    index: int, parameter: Mapping[str, Any], notes: list[Note]
) -> dict[str, Any]:
    """One kubetune parameter from one Katib parameter; appends what changed to ``notes``."""
    source = f"spec.parameters[{index}]"
    name = parameter.get("name")
    if not isinstance(name, str) or not name:
        raise ConversionError(f"{source}.name", "every parameter needs a name")
    raw_type = parameter.get("parameterType")
    try:
        kind = KatibParameterType(str(raw_type))
    except ValueError:
        known = ", ".join(t.value for t in KatibParameterType)
        raise ConversionError(
            f"{source}.parameterType", f"{raw_type!r} is not a Katib parameter type ({known})"
        ) from None
    space = parameter.get("feasibleSpace")
    if not isinstance(space, Mapping):
        raise ConversionError(f"{source}.feasibleSpace", "required: min/max or list")
    where = f"{source}.feasibleSpace"
    if kind in (KatibParameterType.DISCRETE, KatibParameterType.CATEGORICAL):
        return {
            "name": name,
            "type": ParameterType.CATEGORICAL.value,
            "choices": _choices(kind, space, where, notes, index),
        }
    return {"name": name, **_range(kind, space, where, notes, index)}


def _choices(
    kind: KatibParameterType,
    space: Mapping[str, Any],
    where: str,
    notes: list[Note],
    index: int,
) -> list[ParameterValue]:
    values = space.get("list")
    if not isinstance(values, list) or not values:
        raise ConversionError(f"{where}.list", f"a {kind} parameter needs a non-empty list")
    for key in ("min", "max", "step", "distribution"):
        if key in space:
            notes.append(
                Note(
                    NoteKind.DROPPED,
                    f"{where}.{key}",
                    f"ignored for a {kind} parameter (Katib ignores it too)",
                )
            )
    if kind is KatibParameterType.CATEGORICAL:
        return [str(v) for v in values]
    choices = [number(v, f"{where}.list[{i}]") for i, v in enumerate(values)]
    reformatted = [str(v) for v, c in zip(values, choices, strict=True) if str(c) != str(v)]
    if reformatted:
        notes.append(
            Note(
                NoteKind.CHANGED,
                f"{where}.list",
                f"values {reformatted} reach the program as written by Python "
                f"({[str(c) for c in choices]}); the numbers are the same",
                f"spec.parameters[{index}]",
            )
        )
    return list(choices)


def _range(
    kind: KatibParameterType,
    space: Mapping[str, Any],
    where: str,
    notes: list[Note],
    index: int,
) -> dict[str, Any]:
    target = f"spec.parameters[{index}]"
    for key in ("min", "max"):
        if key not in space:
            raise ConversionError(f"{where}.{key}", f"a {kind} parameter needs min and max")
    low, high = number(space["min"], f"{where}.min"), number(space["max"], f"{where}.max")
    is_int = kind is KatibParameterType.INT
    if is_int and (low != int(low) or high != int(high)):
        raise ConversionError(
            where, f"min and max of an int parameter must be whole: {low}, {high}"
        )
    if low > high:
        raise ConversionError(where, f"min ({low}) is greater than max ({high}); swap them")
    if low == high:
        notes.append(
            Note(
                NoteKind.CHANGED,
                where,
                "min equals max: a fixed value, kept as a one-choice categorical",
                target,
            )
        )
        return {"type": ParameterType.CATEGORICAL.value, "choices": [int(low) if is_int else low]}
    result: dict[str, Any] = {
        "type": (ParameterType.INT if is_int else ParameterType.FLOAT).value,
        "low": int(low) if is_int else float(low),
        "high": int(high) if is_int else float(high),
    }
    step = _step(space, where, is_int, high - low, notes, target)
    distribution = _distribution(space, where, low, notes, target)
    if distribution is not None and distribution.is_log:
        if step is not None and step != 1:
            notes.append(
                Note(
                    NoteKind.APPROXIMATED,
                    f"{where}.step",
                    f"kubetune cannot combine a log scale with a step: step {step} "
                    "dropped, values are continuous on the log scale",
                    target,
                )
            )
            step = None
        result["log"] = True
    if step is not None:
        result["step"] = step
    return result


def _step(
    space: Mapping[str, Any],
    where: str,
    is_int: bool,
    width: float,
    notes: list[Note],
    target: str,
) -> float | int | None:
    if "step" not in space or space["step"] in (None, ""):
        return None
    step = number(space["step"], f"{where}.step")
    if step <= 0:
        raise ConversionError(f"{where}.step", f"must be > 0, got {step}")
    if is_int and step != int(step):
        raise ConversionError(f"{where}.step", f"an int parameter's step must be whole: {step}")
    if step > width:
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{where}.step",
                f"step {step} is wider than max - min ({width}): only min is "
                "reachable in Katib; dropped, the range is continuous",
                target,
            )
        )
        return None
    return int(step) if is_int else float(step)


def _distribution(
    space: Mapping[str, Any],
    where: str,
    low: float,
    notes: list[Note],
    target: str,
) -> KatibDistribution | None:
    raw = space.get("distribution")
    if raw in (None, ""):
        return None
    try:
        distribution = KatibDistribution(raw)
    except ValueError:
        known = ", ".join(d.value for d in KatibDistribution)
        raise ConversionError(
            f"{where}.distribution", f"{raw!r} is not a Katib distribution ({known})"
        ) from None
    if distribution.is_log and low <= 0:
        raise ConversionError(
            f"{where}.distribution", f"{raw} needs min > 0 (got {low}); raise min or use uniform"
        )
    if distribution in (KatibDistribution.NORMAL, KatibDistribution.LOG_NORMAL):
        scale = "log-uniform" if distribution.is_log else "uniform"
        notes.append(
            Note(
                NoteKind.APPROXIMATED,
                f"{where}.distribution",
                f"kubetune has no {raw} distribution: sampled {scale} over the same "
                "[min, max] (a model-based algorithm soon concentrates where it "
                "pays off)",
                target,
            )
        )
    return distribution


_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def kubetune_name(name: str) -> str:
    """A kubetune parameter name for a Katib one: ``--learning-rate`` → ``learning-rate``."""
    cleaned = _NOT_IN_NAME.sub("_", name.lstrip("-"))
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"p_{cleaned}"
