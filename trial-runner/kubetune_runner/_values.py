"""What a report may contain, checked at the call so a bad value fails where it was made.

A NaN loss or a metric passed as a string would otherwise surface much later as a Trial the
API server refuses, or a study whose best value is NaN. Numbers are anything ``numbers.Real``
(so numpy scalars work) except booleans, which are almost always a mistake.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Mapping
from typing import Any

from kubetune_runner._log import warn

MAX_METRICS = 32
"""Distinct metric names one reporting process may report (its objectives always fit). A
program that reports thousands of names would otherwise grow its Trial towards etcd's object
limit, and every watcher would receive each of those updates; names past the limit are
dropped with one warning. A trial has at most two reporting processes (the wrapper and its
program), so the CRD's bound ``kubetune.api.trial.MAX_TRIAL_METRICS`` is twice this (a test
keeps them in step: the runner cannot import the operator's package)."""
MAX_METRIC_NAME_LENGTH = 63
"""Longest metric name, as in a study's ``objective.metric`` and ``metrics``."""


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
        if len(name) > MAX_METRIC_NAME_LENGTH:
            raise ValueError(
                f"metric name {name[:40]!r}… is {len(name)} characters long; "
                f"at most {MAX_METRIC_NAME_LENGTH} fit in a Trial"
            )
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


class MetricNames:
    """The metric names a trial has reported so far, bounded by ``MAX_METRICS``.

    Both transports pass every report through :meth:`admit`, so a trial's status (cluster) and
    its ``metrics.jsonl`` lines (local) carry at most ``limit`` names whatever the program
    prints. The objectives are always admitted: dropping one would turn a trial that reported
    into one that did not. Names over ``MAX_METRIC_NAME_LENGTH`` (a parser that read garbage
    as a name) are dropped too.
    """

    def __init__(
        self,
        objectives: Collection[str] = (),
        limit: int = MAX_METRICS,
        warn: Callable[[str], None] = warn,
    ) -> None:
        self._objectives = frozenset(objectives)
        self._warn = warn
        """Where the one warning about dropped names goes (the trial's log, from a host)."""
        self._others: set[str] = set()
        self._room = max(0, limit - len(self._objectives))
        self.dropped = 0
        """How many reported values were left out, for tests and diagnostics."""

    def admit(self, values: Mapping[str, float]) -> dict[str, float]:
        kept: dict[str, float] = {}
        for name, value in values.items():
            if name in self._objectives or name in self._others:
                kept[name] = value
            elif len(name) <= MAX_METRIC_NAME_LENGTH and len(self._others) < self._room:
                self._others.add(name)
                kept[name] = value
            else:
                self._drop(name)
        return kept

    def _drop(self, name: str) -> None:
        if not self.dropped:
            self._warn(
                f"metric {name[:40]!r} and any further new names are not recorded: a trial "
                f"keeps at most {MAX_METRICS} metric names of at most "
                f"{MAX_METRIC_NAME_LENGTH} characters (its objectives always)"
            )
        self.dropped += 1
