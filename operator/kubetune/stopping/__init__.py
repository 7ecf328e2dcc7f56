"""Early-stopping rules (pruners), one module each, behind ``StoppingRule`` of ``base``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kubetune.stopping._median import MedianRule
from kubetune.stopping._percentile import PercentileRule
from kubetune.stopping._threshold import ThresholdRule
from kubetune.stopping.base import RuleSettings, StoppingRule

RULES: dict[str, type[StoppingRule]] = {
    "median": MedianRule,
    "percentile": PercentileRule,
    "threshold": ThresholdRule,
}


class RuleSettingsError(ValueError):
    """Stopping-rule settings that do not fit the rule; the message names each bad field."""


def create(name: str, settings: Mapping[str, Any]) -> StoppingRule | None:
    """The rule a manifest's ``earlyStopping`` names, or None for ``none``."""
    if name == "none":
        if settings:
            raise RuleSettingsError("spec.earlyStopping.settings: rule 'none' takes no settings")
        return None
    rule = RULES.get(name)
    if rule is None:
        raise RuleSettingsError(
            f"spec.earlyStopping.rule: {name!r} is not available; choose one of "
            f"{sorted([*RULES, 'none'])}"
        )
    try:
        return rule(rule.Settings.model_validate(dict(settings)))
    except ValidationError as error:
        problems = "; ".join(
            f"spec.earlyStopping.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in error.errors()
        )
        raise RuleSettingsError(problems) from None


__all__ = [
    "RULES",
    "MedianRule",
    "PercentileRule",
    "RuleSettings",
    "RuleSettingsError",
    "StoppingRule",
    "ThresholdRule",
    "create",
]
