"""A converted study as commented YAML: each note sits above the section it concerns.

PyYAML writes no comments, so the study is written section by section (each parameter on
its own) with the notes for that section above it as ``#`` lines; notes that concern nothing
in the study (what was dropped) head the file. Loading the text gives back the manifest.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

import yaml

from kubetune.convert.notes import Note, NoteKind

WIDTH = 99
"""Longest comment line, the project's line length."""


def render(manifest: dict[str, Any], notes: list[Note], origin: str) -> str:
    """The study's YAML with the notes as comments; ``origin`` says what it came from."""
    spec = manifest["spec"]
    placed = {"spec.parameters"} | {f"spec.{key}" for key in spec}
    placed |= {f"spec.parameters[{i}]" for i in range(len(spec["parameters"]))}
    counts = {kind: sum(n.kind is kind for n in notes) for kind in NoteKind}
    summary = ", ".join(f"{count} {kind}" for kind, count in counts.items())
    lines = [f"# Converted from {origin} by `kubetune convert` ({summary})."]
    if any(note.kind.is_lossy for note in notes):
        lines.append("# Each note names the source field; review the approximated and dropped.")
    lines += _comments((n for n in notes if n.target not in placed), "")
    head = {k: manifest[k] for k in ("apiVersion", "kind", "metadata")}
    lines += [_dump(head, ""), "spec:"]
    for key, value in spec.items():
        lines += _comments(_about(notes, f"spec.{key}"), "  ")
        if key != "parameters":
            lines.append(_dump({key: value}, "  "))
            continue
        lines.append("  parameters:")
        for i, parameter in enumerate(value):
            lines += _comments(_about(notes, f"spec.parameters[{i}]"), "    ")
            lines.append(_dump([parameter], "    "))
    return "\n".join(lines) + "\n"


def _about(notes: list[Note], target: str) -> list[Note]:
    return [note for note in notes if note.target == target]


def _comments(notes: Iterable[Note], indent: str) -> list[str]:
    lines = []
    for note in notes:
        wrapped = textwrap.wrap(str(note), WIDTH - len(indent) - 2, subsequent_indent="  ")
        lines += [f"{indent}# {line}" for line in wrapped]
    return lines


def _dump(value: Any, indent: str) -> str:
    """Block style on top, flow style for innermost collections (one parameter, one line)."""
    flat = isinstance(value, dict) and not any(isinstance(v, dict | list) for v in value.values())
    flow = False if flat else None  # a mapping of scalars alone would become one {...} line
    text = yaml.safe_dump(value, sort_keys=False, default_flow_style=flow, width=WIDTH)
    return textwrap.indent(text.rstrip("\n"), indent)
