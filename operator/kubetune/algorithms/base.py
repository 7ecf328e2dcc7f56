"""The contract every suggestion algorithm implements, and the trial history it reads.

A suggester is a pure object built from (search space, settings, seed). It is asked
``suggest(history, n)`` for up to ``n`` new parameter sets and must:

* rebuild whatever it needs from ``history`` alone (the operator is stateless and restarts
  at any moment), and give the same suggestions for the same history and seed;
* take running trials into account so parallel trials never duplicate a parameter set;
* return fewer than ``n`` suggestions when it must wait (e.g. for a rung to fill), and none
  at all, with nothing running, once its space is exhausted.

Algorithms always *minimize*: see ``kubetune.history``. Schedulers that also end running
trials (ASHA, Hyperband, PBT) override ``stops``.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kubetune.api.attributes import AttributeValue
from kubetune.history import (
    History,
    IntermediateValue,
    StopDecision,
    TrialRecord,
    TrialState,
)
from kubetune.space import Params, SearchSpace, Value

__all__ = [
    "AlgorithmSettings",
    "History",
    "IntermediateValue",
    "StopDecision",
    "Suggester",
    "Suggestion",
    "TrialRecord",
    "TrialState",
    "fresh",
]


@dataclass(frozen=True)
class Suggestion:
    """A parameter set to evaluate; multi-fidelity algorithms also say how much resource.

    ``attributes`` is what the algorithm wants to find again on this trial in later histories
    (generation, parent trial, checkpoint to restore from), within ``kubetune.api.attributes``'
    bounds; the engine refuses a suggestion that breaks them.
    """

    params: dict[str, Value]
    budget: float | None = None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)


class AlgorithmSettings(BaseModel):
    """Base of each algorithm's typed settings: camelCase in manifests, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class Suggester(abc.ABC):
    """Base of all suggestion algorithms; subclasses set ``Settings`` and implement ``suggest``."""

    Settings: ClassVar[type[AlgorithmSettings]] = AlgorithmSettings

    def __init__(self, space: SearchSpace, settings: AlgorithmSettings, seed: int) -> None:
        self.space = space
        self.settings = settings
        self.seed = seed

    @abc.abstractmethod
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        """Up to ``n`` new parameter sets, none equal to one already in ``history``."""

    def stops(self, history: History) -> list[StopDecision]:
        """Running trials this algorithm ends itself (schedulers); most algorithms end none."""
        return []

    def rng(self, history: History, salt: str = "") -> np.random.Generator:
        """A generator that depends only on the seed and the history's size.

        Restarting the operator rebuilds exactly the same stream, so suggestions are the same
        whether a study ran straight through or was interrupted ten times.
        """
        digest = hashlib.sha256(f"{salt}/{len(history.trials)}".encode()).digest()
        return np.random.default_rng([self.seed, int.from_bytes(digest[:8], "little")])


def fresh(
    space: SearchSpace,
    candidates: Sequence[Params],
    taken: set[tuple[tuple[str, Value], ...]],
    n: int,
) -> list[Suggestion]:
    """The first ``n`` candidates that are neither taken nor repeated; marks them taken."""
    chosen: list[Suggestion] = []
    for params in candidates:
        if len(chosen) == n:
            break
        key = space.canonical(params)
        if key in taken:
            continue
        taken.add(key)
        chosen.append(Suggestion(dict(params)))
    return chosen
