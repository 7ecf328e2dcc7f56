"""Find metrics in a line a training program printed, so unmodified programs can report.

Two formats are understood:

- Katib's: ``name=value`` pairs, ``epoch=3 val_accuracy=0.91, loss=0.2``, separated by
  spaces, commas or semicolons, possibly after a log prefix (``INFO:root:loss=0.2``);
- a JSON object on its own line: ``{"step": 3, "val_accuracy": 0.91}``.

``step``, ``iteration`` or ``epoch`` (first found in that order) give the step and are not
metrics themselves. A line is a report only if every pair on it has a finite number as its
value: ``Loading model=resnet50`` or ``loss=nan`` is printed, never reported, and
never an error. Parsing must not crash on any input, whatever the program prints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any, NamedTuple

STEP_KEYS = ("step", "iteration", "epoch")
"""Names that give a report's step, the finest-grained first."""

_PAIR = re.compile(r"(?<![\w.\-/])([A-Za-z_][\w.\-/]*)\s*=\s*([^\s,;]*)")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class ParsedReport(NamedTuple):
    step: int | None
    values: dict[str, float]


def parse_line(line: str, names: Collection[str] | None = None) -> ParsedReport | None:
    """The report a printed line carries, restricted to ``names`` if given; else None."""
    text = line.strip()
    fields: dict[str, float] | None
    if text.startswith("{") and text.endswith("}"):
        fields = _json_fields(text)
    else:
        fields = _pair_fields(text)
    if not fields:
        return None
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
    return ParsedReport(step, values) if values else None


def _pair_fields(text: str) -> dict[str, float] | None:
    fields: dict[str, float] = {}
    for name, raw in _PAIR.findall(text):
        if not _NUMBER.fullmatch(raw):
            return None
        value = float(raw)
        if not math.isfinite(value):  # 1e999
            return None
        fields[_step_key(name)] = value
    return fields


def _json_fields(text: str) -> dict[str, float] | None:
    try:
        document: Any = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, Mapping):
        return None
    fields: dict[str, float] = {}
    for name, value in document.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond float range
                continue
            if math.isfinite(number):
                fields[_step_key(str(name))] = number
    return fields


def _step_key(name: str) -> str:
    """``Epoch`` and ``STEP`` give the step too."""
    return name.lower() if name.lower() in STEP_KEYS else name


def _as_step(value: float) -> int | None:
    return int(value) if value >= 0 and value == int(value) else None
