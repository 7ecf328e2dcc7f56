"""What a report may contain, checked at the call so a bad value fails where it was made.

A NaN loss or a metric passed as a string would otherwise surface much later as a Trial the
API server refuses, or a study whose best value is NaN. Numbers are anything ``numbers.Real``
(so numpy scalars work) except booleans, which are almost always a mistake.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any


def check_step(step: Any) -> int | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise TypeError(f"step must be an int >= 0 or None, got {step!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return int(step)


def check_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(val_accuracy=0.9)")
    checked = {}
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"metric names must be non-empty strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"metric {name!r} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"metric {name!r} is {number}: only finite numbers can be reported")
        checked[name] = number
    return checked


def split_finite(values: Mapping[str, float]) -> tuple[dict[str, float], dict[str, str]]:
    """Finite values, and the others as text (``"nan"``, ``"inf"``): JSON has no NaN, and a
    non-finite objective must reach the operator so the trial's verdict can name it."""
    finite = {name: v for name, v in values.items() if math.isfinite(v)}
    other = {name: str(v) for name, v in values.items() if not math.isfinite(v)}
    return finite, other
