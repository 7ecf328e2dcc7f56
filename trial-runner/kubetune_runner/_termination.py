"""The trial's final values as its container's termination message: a path without the API.

A report sent while the API server is down waits in memory; if the pod ends before the API
answers, those values would be lost and the trial scored from whatever arrived earlier.
The kubelet copies the file at ``terminationMessagePath`` (``/dev/termination-log`` by
default) into the pod's status (``state.terminated.message``) when the container ends, and
that needs no call from us. So at exit the runner writes its final state there as a small
JSON object, and the operator takes it over when the Trial's status lacks it.

The message is bounded to what the kubelet keeps (4096 bytes): objectives first, then the
other metrics by name until the budget is spent. It is only written for a program that
ended well: a failed container's empty message is what makes ``FallbackToLogsOnError``
show the end of its log, which says why it failed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MARKER = "kubetune.dev/report"
"""The key that tells the operator this message is the runner's final report (its value is
the format version)."""
FORMAT_VERSION = 1
MAX_BYTES = 4096
"""The kubelet keeps at most this much of a termination message."""


def render(
    values: Mapping[str, float],
    non_finite: Mapping[str, str],
    last_step: int | None,
    reports: int,
    delivered: bool,
    objectives: Sequence[str] = (),
) -> str:
    """The message: ``{"kubetune.dev/report": 1, "values": …, "lastStep": …, "reports": N,
    "delivered": bool}``; metrics that do not fit in ``MAX_BYTES`` are left out, objectives
    last, and ``"truncated": true`` says so."""
    message: dict[str, Any] = {
        MARKER: FORMAT_VERSION,
        "values": {},
        "nonFiniteValues": {},
        "reports": reports,
        "delivered": delivered,
    }
    if last_step is not None:
        message["lastStep"] = last_step
    order = sorted(set(values) | set(non_finite), key=lambda n: (n not in objectives, n))
    for name in order:
        field = "values" if name in values else "nonFiniteValues"
        source = values if name in values else non_finite
        message[field][name] = source[name]
        if len(_encode(message)) > MAX_BYTES - len(', "truncated": true'):
            del message[field][name]
            message["truncated"] = True
            break
    if not message["nonFiniteValues"]:
        del message["nonFiniteValues"]
    return _encode(message)


def write(path: str, message: str) -> bool:
    """Write ``message`` to ``path``; False (and no exception) where there is no such file
    to write, e.g. outside a container."""
    try:
        with open(path, "w", encoding="utf-8") as file:
            file.write(message)
        return True
    except OSError:
        return False


def _encode(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(", ", ": "), allow_nan=False)
