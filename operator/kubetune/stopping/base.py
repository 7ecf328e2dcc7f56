"""The contract of early-stopping rules: read the history, name the running trials to stop.

A rule is pure and stateless like a suggester: built from its typed settings and asked
``decide(history)`` whenever the study is reconciled. It sees every trial's intermediate
values (as losses, smaller is better) and returns ``StopDecision``s for running trials only.

Each rule module declares itself once with a module-level ``RULE = Rule(...)`` (name, class,
docs, capabilities); the package discovers it (see ``kubetune.stopping``).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from kubetune.api.capabilities import Capabilities
from kubetune.history import History, StopDecision


class RuleSettings(BaseModel):
    """Base of each rule's typed settings: camelCase in manifests, unknown keys rejected,
    non-finite numbers refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )


RuleSettingsT = TypeVar("RuleSettingsT", bound=RuleSettings)


class RuleSettingsError(ValueError):
    """Stopping-rule settings that do not fit the rule; the message names each bad field."""


class StoppingRule(abc.ABC, Generic[RuleSettingsT]):
    """Base of all rules, generic over their typed settings (``Settings`` is that class)."""

    Settings: ClassVar[type[RuleSettings]] = RuleSettings

    def __init__(self, settings: RuleSettingsT) -> None:
        self.settings: RuleSettingsT = settings

    @abc.abstractmethod
    def decide(self, history: History) -> list[StopDecision]:
        """Running trials that should stop now; never a finished one."""


@dataclass(frozen=True)
class Rule:
    """A stopping rule's one declaration: ``spec.earlyStopping.rule``'s choices, the CRD,
    validation and the docs table derive from it."""

    name: str
    """``spec.earlyStopping.rule``."""
    rule: type[StoppingRule[Any]]
    """The class; its ``Settings`` types ``spec.earlyStopping.settings``."""
    summary: str
    """What it does, in a few words (the docs table's "what")."""
    capabilities: Capabilities

    @property
    def settings(self) -> type[RuleSettings]:
        return self.rule.Settings

    def create(self, raw: Mapping[str, Any]) -> StoppingRule[Any]:
        """A ready rule, or RuleSettingsError naming each bad field."""
        try:
            settings = self.settings.model_validate(dict(raw))
        except ValidationError as error:
            problems = "; ".join(
                f"spec.earlyStopping.settings.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                for e in error.errors()
            )
            raise RuleSettingsError(problems) from None
        return self.rule(settings)
