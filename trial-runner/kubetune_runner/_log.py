"""One-line diagnostics on stderr, where the training program's own errors go.

The runner lives inside someone else's program, so it does not configure ``logging`` (that
would fight the program's own setup); it prints short prefixed lines instead.
"""

from __future__ import annotations

import contextlib
import sys

PREFIX = "kubetune-runner: "
"""Starts every line the runner says, so a log shows which lines are not the program's."""


def warn(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: nowhere left to say it
        print(f"{PREFIX}{message}", file=sys.stderr, flush=True)
