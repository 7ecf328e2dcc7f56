"""Early-stopping rules (pruners), one module each, behind ``StoppingRule`` of ``base``.

Like algorithms, each rule is declared once in its module (``RULE = Rule(...)``) and found by
importing every module of this package; ``REGISTRY`` is the result. The rule ``none`` is not a
module: it is the absence of a rule (``NO_RULE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubetune.api.capabilities import capability_table, discover
from kubetune.api.study import NO_RULE
from kubetune.stopping.base import Rule, RuleSettings, RuleSettingsError, StoppingRule

DECLARATION = "RULE"
"""The module-level name under which a rule module declares its ``Rule``."""


def _discover() -> dict[str, Rule]:
    """Every ``RULE`` declared by a module of this package, by name."""
    found = discover(__name__, __path__, DECLARATION, Rule)
    if NO_RULE in found:
        raise ImportError(f"the stopping rule name {NO_RULE!r} means no rule; pick another")
    return dict(sorted(found.items()))


REGISTRY: Mapping[str, Rule] = _discover()
"""Every stopping rule, by manifest name (``none`` excluded)."""

RULES: Mapping[str, type[StoppingRule[Any]]] = {
    name: declaration.rule for name, declaration in REGISTRY.items()
}
"""The class of each rule (derived from ``REGISTRY``)."""


def names() -> list[str]:
    """Every value ``spec.earlyStopping.rule`` accepts."""
    return [NO_RULE, *REGISTRY]


def create(name: str, settings: Mapping[str, Any]) -> StoppingRule[Any] | None:
    """The rule a manifest's ``earlyStopping`` names, or None for ``none``."""
    if name == NO_RULE:
        if settings:
            raise RuleSettingsError("spec.earlyStopping.settings: rule 'none' takes no settings")
        return None
    declaration = REGISTRY.get(name)
    if declaration is None:
        raise RuleSettingsError(
            f"spec.earlyStopping.rule: {name!r} is not available; choose one of {names()}"
        )
    return declaration.create(settings)


def docs_table() -> str:
    """The stopping-rule table of docs/algorithms.md, generated from the declarations."""
    return capability_table(
        ["rule", "what"],
        [((f"`{d.name}`", d.summary), d.capabilities) for d in REGISTRY.values()],
    )


__all__ = [
    "DECLARATION",
    "NO_RULE",
    "REGISTRY",
    "RULES",
    "Rule",
    "RuleSettings",
    "RuleSettingsError",
    "StoppingRule",
    "create",
    "docs_table",
    "names",
]
