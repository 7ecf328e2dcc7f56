"""What a conversion could not carry over unchanged, each note naming the source field.

A converter never drops anything silently: whatever it translated into a different form,
approximated, or left out becomes a ``Note`` that names the source manifest's field path, so
the user can check exactly those places. The kind decides the command's exit status: only
``APPROXIMATED`` and ``DROPPED`` mean the converted study behaves differently.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NoteKind(enum.StrEnum):
    CHANGED = "changed"
    """Expressed differently in kubetune, same behaviour (e.g. a seed moved to spec.seed)."""
    APPROXIMATED = "approximated"
    """Kept, but with a kubetune equivalent that behaves somewhat differently."""
    DROPPED = "dropped"
    """No kubetune equivalent: left out of the converted study."""

    @property
    def is_lossy(self) -> bool:
        """Whether the converted study may behave differently because of this note."""
        return self is not NoteKind.CHANGED


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    source: str
    """The field path in the source manifest, e.g. ``spec.parameters[1].feasibleSpace``."""
    message: str
    target: str | None = None
    """Where in the converted study it shows, e.g. ``spec.parameters[1]``; None: nowhere."""

    def __str__(self) -> str:
        return f"{self.kind}: {self.source}: {self.message}"


class ConversionError(ValueError):
    """A manifest that cannot be converted: bad input, or something kubetune refuses to fake.

    ``source`` names the field at fault, so the message reads ``field: what to do``.
    """

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
