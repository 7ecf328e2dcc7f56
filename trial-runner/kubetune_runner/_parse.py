"""Find metrics in a line a training program printed, so unmodified programs can report.

Two formats are understood:

- Katib's: ``name=value`` pairs, ``epoch=3 val_accuracy=0.91, loss=0.2``, separated by
  spaces, commas or semicolons, possibly after a log prefix (``INFO:root:loss=0.2``);
- a JSON object on its own line: ``{"step": 3, "val_accuracy": 0.91}``.

``step``, ``iteration`` or ``epoch`` (first found in that order) give the step and are not
metrics themselves. Every pair whose value is a number is reported, whatever else the line
holds: ``accuracy=0.9 lr=1e-3 model=resnet50`` reports accuracy and lr. A value that is a
word (``model=resnet50``) is not a metric and is skipped silently; a value that starts like a
number but is not one (``loss=0.5abc``) is returned in ``rejected`` so the wrapper can warn
about it. NaN and infinities are numbers here: they are reported as such, so a diverged
objective ends its trial as ``ObjectiveNotFinite`` instead of looking never reported.
Parsing must not crash on any input, whatever the program prints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

STEP_KEYS = ("step", "iteration", "epoch")
"""Names that give a report's step, the finest-grained first."""

_PAIR = re.compile(r"(?<![\w.\-/?&])([A-Za-z_][\w.\-/]*)\s*=\s*([^\s,;\])}]*)")
"""``name=value``; the value ends at a separator or a closing bracket (tqdm's ``[.., loss=0.3]``),
and a name inside a URL query (``?a=1&b=2``) is not a pair."""
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_LOOKS_NUMERIC = re.compile(r"[+-]?\.?\d")
"""A value starting like this was meant as a number; if it is not one, say so."""


class ParsedReport(NamedTuple):
    step: int | None
    values: dict[str, float]
    """Reported metrics; NaN and infinities included (the transports keep them apart)."""
    rejected: tuple[str, ...] = ()
    """``name=value`` pairs whose value looks numeric but is not a number."""


def parse_line(line: str, names: Collection[str] | None = None) -> ParsedReport | None:
    """The report a printed line carries, restricted to ``names`` if given; else None."""
    text = line.strip()
    rejected: list[str] = []
    if text.startswith("{") and text.endswith("}"):
        fields = _json_fields(text)
    else:
        fields = _pair_fields(text, rejected)
    step = None
    for key in STEP_KEYS:
        if key in fields:
            step = _as_step(fields[key])
            break
    values = {
        name: value
        for name, value in fields.items()
        if name not in STEP_KEYS and (names is None or name in names)
    }
    kept = tuple(pair for pair in rejected if names is None or pair.split("=")[0] in names)
    return ParsedReport(step, values, kept) if values or kept else None


def _pair_fields(text: str, rejected: list[str]) -> dict[str, float]:
    fields: dict[str, float] = {}
    for name, raw in _PAIR.findall(text):
        key = _step_key(name)
        if _NUMBER.fullmatch(raw) or _NON_FINITE.fullmatch(raw):
            fields[key] = float(raw)  # 1e999 is inf, like a printed overflow
        elif _LOOKS_NUMERIC.match(raw) and key not in STEP_KEYS:  # epoch=3/10: no step
            rejected.append(f"{name}={raw}")
    return fields


def _json_fields(text: str) -> dict[str, float]:
    try:
        document: Any = json.loads(text)  # NaN and Infinity are accepted, as Python prints them
    except (ValueError, RecursionError):
        return {}
    if not isinstance(document, Mapping):
        return {}
    fields: dict[str, float] = {}
    for name, value in document.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float range
                continue
            fields[_step_key(str(name))] = number
    return fields


def _step_key(name: str) -> str:
    """``Epoch`` and ``STEP`` give the step too."""
    return name.lower() if name.lower() in STEP_KEYS else name


def _as_step(value: float) -> int | None:
    if not math.isfinite(value):
        return None
    return int(value) if value >= 0 and value == int(value) else None
