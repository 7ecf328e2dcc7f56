"""What an algorithm or a stopping rule can do: the vocabulary both declare themselves in.

Each algorithm module and each stopping-rule module declares its capabilities once, next to
its code. Validation compares them with what a study asks for (several objectives, a training
resource, early stopping), and the docs table is generated from them, so a capability is
never guessed from the presence of a settings field.

It lives in ``api`` — the lowest layer — because it describes what a *manifest* may combine,
and because ``algorithms`` and ``stopping`` are independent siblings that must share it
without importing each other.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Protocol, TypeVar


def _capability(label: str) -> bool:
    """A capability flag, off by default; ``label`` heads its column in the docs tables."""
    flag: bool = field(default=False, metadata={"label": label})
    return flag


@dataclass(frozen=True)
class Capabilities:
    """Everything a study might need from its algorithm or rule; ``False`` means "cannot"."""

    several_objectives: bool = _capability("several objectives")
    """Handles ``spec.objectives`` (two or more metrics). Algorithms that do not optimize
    (random, sobol, grid) handle any number; a model of one loss does not."""

    constraints: bool = _capability("constraints")
    """Honours ``spec.constraints`` (feasible only when every constraint holds)."""

    needs_resource: bool = _capability("needs a resource")
    """Hands out a training resource (``${budget}``): ``spec.budget.resource`` is required."""

    reads_intermediate: bool = _capability("reads intermediate values")
    """Judges trials by the intermediate values they report (``report(step=…)``)."""

    population: bool = _capability("population")
    """Keeps a population or lineage across trials (generations, parents, checkpoints)."""

    stops_trials: bool = _capability("stops trials")
    """Ends running trials itself (a scheduler), besides suggesting new ones."""

    checkpoints: bool = _capability("hands on checkpoints")
    """Starts trials from other trials' checkpoints (PBT): every trial is given a checkpoint
    location (``KUBETUNE_CHECKPOINT_DIR``) and, when it continues another, the one to
    restore from (``KUBETUNE_RESTORE_FROM``)."""

    def labelled(self) -> list[tuple[str, bool]]:
        """(column label, flag) for each capability, in declaration order."""
        return [(f.metadata["label"], getattr(self, f.name)) for f in fields(self)]


def capability_table(
    headings: Sequence[str], rows: Sequence[tuple[Sequence[str], Capabilities]]
) -> str:
    """A Markdown table: the given columns, then one yes/no column per capability."""
    labels = [label for label, _ in Capabilities().labelled()]
    lines = [
        "| " + " | ".join([*headings, *labels]) + " |",
        "|---" * (len(headings) + len(labels)) + "|",
    ]
    for cells, capabilities in rows:
        flags = ["yes" if flag else "no" for _, flag in capabilities.labelled()]
        lines.append("| " + " | ".join([*cells, *flags]) + " |")
    return "\n".join(lines) + "\n"


class Declaration(Protocol):
    """What an algorithm's or a rule's declaration has in common: its manifest name."""

    @property
    def name(self) -> str: ...


DeclarationT = TypeVar("DeclarationT", bound=Declaration)


def discover(
    package: str, path: Iterable[str], attribute: str, kind: type[DeclarationT]
) -> dict[str, DeclarationT]:
    """The ``attribute`` of each module of ``package`` that declares a ``kind``, by name.

    Both registries find their members this way, so a new algorithm or rule is one new module
    and nothing else; two modules declaring the same name is an ImportError.
    """
    found: dict[str, DeclarationT] = {}
    for module_info in sorted(pkgutil.iter_modules(path), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        declaration = getattr(module, attribute, None)
        if not isinstance(declaration, kind):
            continue
        if declaration.name in found:
            raise ImportError(f"two modules of {package} declare {declaration.name!r}")
        found[declaration.name] = declaration
    return found
