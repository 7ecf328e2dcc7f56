"""Suggestion algorithms, one module each, behind the ``Suggester`` contract of ``base``.

**The registry.** Every algorithm is declared once, in its own module, by a module-level
``ALGORITHM = Algorithm(name=…, suggester=…, family=…, summary=…, use_when=…,
capabilities=Capabilities(…))``. Importing this package imports every module in it
(``pkgutil``) and collects those declarations into ``REGISTRY``; nothing here lists them.
Adding an algorithm therefore touches its module, its test and its row of
docs/algorithms.md (generated, see ``docs_table``), nothing else.

Everything else derives from the registry: the names ``spec.algorithm.name`` accepts (the
CRD's ``enum`` and ``kubetune validate``), the CRD's typed settings, the capability checks of
``kubetune.validation`` and the docs table. ``kubetune.api`` sits *below* this package and
cannot import it, so ``AlgorithmSpec.name`` is a plain string there: the CRD generator is
handed the registry's names (``kubetune crds``), and validation looks the name up here.

**SciPy is imported where it is used**, inside the functions that compute with it, never at a
module's top: importing the registry imports every algorithm module, and SciPy's import
(``special``, ``linalg``, ``optimize``, ``stats.qmc``: ~0.75 s) was most of the start of every
``kubetune`` command, a random search's included (``tests/unit/test_packaging.py`` holds it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubetune.algorithms.base import (
    Algorithm,
    AlgorithmSettings,
    Family,
    History,
    IntermediateValue,
    NoSettings,
    SettingsError,
    StopDecision,
    Suggester,
    Suggestion,
    TrialRecord,
    TrialState,
    next_index,
)
from kubetune.api.capabilities import capability_table, discover
from kubetune.space import SearchSpace

DECLARATION = "ALGORITHM"
"""The module-level name under which an algorithm module declares its ``Algorithm``."""


def _discover() -> dict[str, Algorithm]:
    """Every ``ALGORITHM`` declared by a module of this package, simple search first."""
    found = discover(__name__, __path__, DECLARATION, Algorithm)
    return dict(sorted(found.items(), key=lambda item: (item[1].family, item[0])))


REGISTRY: Mapping[str, Algorithm] = _discover()
"""Every algorithm, by manifest name, simple search first."""

ALGORITHMS: Mapping[str, type[Suggester[Any]]] = {
    name: declaration.suggester for name, declaration in REGISTRY.items()
}
"""The suggester class of each algorithm (derived from ``REGISTRY``)."""


def lookup(name: str) -> Algorithm:
    """The declaration of ``spec.algorithm.name``, or SettingsError listing the choices."""
    declaration = REGISTRY.get(name)
    if declaration is None:
        raise SettingsError(
            f"spec.algorithm.name: {name!r} is not available; choose one of {sorted(REGISTRY)}"
        )
    return declaration


def parse_settings(name: str, settings: Mapping[str, Any]) -> AlgorithmSettings:
    return lookup(name).parse_settings(settings)


def create(name: str, space: SearchSpace, settings: Mapping[str, Any], seed: int) -> Suggester[Any]:
    """A suggester for a manifest's algorithm section; raises SettingsError or SpaceError."""
    return lookup(name).create(space, settings, seed)


def docs_table() -> str:
    """The algorithms table of docs/algorithms.md, generated from the declarations."""
    return capability_table(
        ["name", "what", "choose it when"],
        [((f"`{d.name}`", d.summary, d.use_when), d.capabilities) for d in REGISTRY.values()],
    )


__all__ = [
    "ALGORITHMS",
    "DECLARATION",
    "REGISTRY",
    "Algorithm",
    "AlgorithmSettings",
    "Family",
    "History",
    "IntermediateValue",
    "NoSettings",
    "SettingsError",
    "StopDecision",
    "Suggester",
    "Suggestion",
    "TrialRecord",
    "TrialState",
    "create",
    "docs_table",
    "lookup",
    "next_index",
    "parse_settings",
]
