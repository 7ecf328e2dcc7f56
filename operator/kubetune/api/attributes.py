"""Trial attributes: a small map an algorithm attaches to a suggestion and reads back later.

Population methods (genetic search, PBT) need to remember things about a trial that are not
hyperparameters: its generation, its parent trial, the checkpoint it restores from, the
population member it belongs to. The operator keeps no state of its own, so that memory has
to live on the trial: the engine copies a suggestion's attributes into the Trial's spec (on a
cluster) or its ``trial.json`` (locally), and every later ``suggest`` call finds them again in
the history — after any restart of the operator or of ``kubetune run``.

The map is bounded like every other field of a Trial, so a buggy algorithm cannot grow an
object towards etcd's size limit. The bounds are defined here once; the Trial model, the CRD
schema (which can only count keys) and the engine's check of each suggestion all use them.

Numbers are compared, not typed, after a round trip: the Kubernetes API writes a whole float
such as ``2.0`` back as ``2``, which equals ``2.0`` in Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

AttributeValue = str | int | float | bool
"""What an attribute may hold: text, a whole number, a finite number or a flag."""

Attributes = Mapping[str, AttributeValue]

MAX_ATTRIBUTES = 16
"""Keys one trial may carry."""
MAX_ATTRIBUTE_NAME_LENGTH = 63
"""Longest key, as for metric and parameter names."""
MAX_ATTRIBUTE_TEXT_LENGTH = 256
"""Longest text value: room for a trial name or a checkpoint path, not for data."""
ATTRIBUTE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]*$"
"""Keys are spelled like metric and parameter names."""

_NAME = re.compile(ATTRIBUTE_NAME_PATTERN)

RESTORE_ATTRIBUTE = "checkpoint.restoreFrom"
"""The trial attribute naming the trial (``<study>-<index>``) whose checkpoint a new trial
restores from. The engine writes it from ``Suggestion.restore_from``; each backend turns the
name into a location it can reach (a local directory, a sub-path of the checkpoint volume, a
URI). Defined here, in the lowest layer, so the algorithms and the engine can name it."""


class InvalidAttributes(ValueError):
    """Attributes outside the bounds above; the message lists every problem."""


def attribute_problems(attributes: Mapping[str, object]) -> list[str]:
    """Every way ``attributes`` breaks the bounds, one sentence each; empty when it is valid."""
    problems = []
    if len(attributes) > MAX_ATTRIBUTES:
        problems.append(
            f"{len(attributes)} attributes, more than the {MAX_ATTRIBUTES} a trial may carry"
        )
    for key, value in attributes.items():
        problem = _key_problem(key) or _value_problem(value)
        if problem:
            problems.append(f"attribute {key!r}: {problem}")
    return problems


def check_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    """``attributes`` as a plain dict, or ``InvalidAttributes`` naming every bad entry."""
    problems = attribute_problems(attributes)
    if problems:
        raise InvalidAttributes("; ".join(problems))
    return {str(k): v for k, v in attributes.items() if isinstance(v, AttributeValue)}


def _key_problem(key: object) -> str | None:
    if not isinstance(key, str):
        return f"the key must be text, not {type(key).__name__}"
    if len(key) > MAX_ATTRIBUTE_NAME_LENGTH:
        return f"the key is longer than {MAX_ATTRIBUTE_NAME_LENGTH} characters"
    if not _NAME.match(key):
        return (
            "the key must start with a letter or '_' and hold only letters, digits, "
            "'_', '.' and '-'"
        )
    return None


def _value_problem(value: object) -> str | None:
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT_LENGTH:
            return f"text longer than {MAX_ATTRIBUTE_TEXT_LENGTH} characters ({len(value)})"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a finite number"
    if isinstance(value, bool | int | float):
        return None
    return f"a value must be text, a number or true/false, not {type(value).__name__}"


class LineageAttribute:
    """The attribute keys of a population's lineage (``pbt``; read by ``results``, the report's
    lineage plot and the dashboard). Named once here so the algorithm that writes them and the
    views that read them cannot drift apart. The checkpoint a trial restores from is
    ``RESTORE_ATTRIBUTE`` (a trial name, for the backends); the lineage names trials by index
    (whole numbers), since it never leaves its study."""

    MEMBER = "pbt.member"
    """Which population member (0 … populationSize-1) this trial trains."""
    GENERATION = "pbt.generation"
    """The segment this trial trains: 0 for a member's first trial; one more than its parent's
    (an exploiting member takes over its donor's progress, so it may skip or repeat one)."""
    PARENT = "pbt.parent"
    """The index of the trial this one continues from (the member's own previous segment, or
    the top-quantile trial it exploited); absent for a generation-0 trial."""
    EXPLOITED = "pbt.exploited"
    """True when the parent is another member's trial (hyperparameters and checkpoint taken
    over and perturbed), false when the member continued from its own checkpoint."""
