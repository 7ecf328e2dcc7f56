"""One-line diagnostics on stderr, where the training program's own errors go.

The runner lives inside someone else's program, so it does not configure ``logging`` (that
would fight the program's own setup); it prints short prefixed lines instead.
"""

from __future__ import annotations

import contextlib
import sys


def warn(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: nowhere left to say it
        print(f"kubetune-runner: {message}", file=sys.stderr, flush=True)
