"""The contract of early-stopping rules: read the history, name the running trials to stop.

A rule is pure and stateless like a suggester: built from its typed settings and asked
``decide(history)`` whenever the study is reconciled. It sees every trial's intermediate
values (as losses, smaller is better) and returns ``StopDecision``s for running trials only.
"""

from __future__ import annotations

import abc
from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kubetune.history import History, StopDecision


class RuleSettings(BaseModel):
    """Base of each rule's typed settings: camelCase in manifests, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class StoppingRule(abc.ABC):
    Settings: ClassVar[type[RuleSettings]] = RuleSettings

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def decide(self, history: History) -> list[StopDecision]:
        """Running trials that should stop now; never a finished one."""
