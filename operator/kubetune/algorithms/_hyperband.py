"""Hyperband: successive halving run in several brackets that trade exploration for safety.

Li et al. (2018) hedge against a too-aggressive grace period by running ``s_max + 1``
brackets: bracket ``b`` has its first rung at ``minResource·η^b``, so the last one never stops
anything (plain random search at full resource). Each bracket is an asynchronous ASHA ladder
with its own rungs, and trials are dealt to brackets by index in Li's proportions (many
trials to aggressive brackets, few to safe ones), spread evenly by a smooth round robin.

Because placement is a function of the index and no bracket waits for another, a restarted
operator resumes exactly, and brackets never stall, whatever ``parallelTrials`` is — unlike
Katib's synchronous Hyperband, which forces parallelTrialCount to the bracket size and stops
after the first bracket.
"""

from __future__ import annotations

import math

from pydantic import Field

from kubetune.algorithms._successive_halving import (
    Bracket,
    SuccessiveHalving,
    SuccessiveHalvingSettings,
    smooth_round_robin,
)
from kubetune.algorithms.base import Algorithm, Family
from kubetune.api.capabilities import Capabilities
from kubetune.space import SearchSpace

FLOOR_TOLERANCE = 1e-9
"""Added before flooring log_η(max/min), so a ratio that is an exact power of η (81/1 for η = 3)
is not floored one short by float error."""


class HyperbandSettings(SuccessiveHalvingSettings):
    brackets: int | None = Field(
        default=None,
        ge=1,
        description="Use only this many brackets, most aggressive first (default: all "
        "s_max + 1 = floor(log_η(maxResource/minResource)) + 1).",
    )


class Hyperband(SuccessiveHalving[HyperbandSettings]):
    name = "hyperband"
    Settings = HyperbandSettings

    def __init__(self, space: SearchSpace, settings: HyperbandSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        # Li et al.: bracket with s halvings gets ceil(B/(s+1) · η^s) of every round's trials.
        count = len(self.brackets)
        weights = [
            math.ceil(count / (len(b.rungs) + 1) * self.eta ** len(b.rungs)) for b in self.brackets
        ]
        self.schedule = smooth_round_robin(weights)

    def make_brackets(self) -> tuple[Bracket, ...]:
        ratio = self.max_resource / self.min_resource
        s_max = math.floor(math.log(ratio) / math.log(self.eta) + FLOOR_TOLERANCE)
        count = s_max + 1
        if self.settings.brackets is not None:
            count = min(count, self.settings.brackets)
        return tuple(
            Bracket.ladder(self.min_resource * self.eta**b, self.max_resource, self.eta)
            for b in range(count)
        )

    def bracket_of(self, index: int) -> int:
        return self.schedule[index % len(self.schedule)]


ALGORITHM = Algorithm(
    name="hyperband",
    suggester=Hyperband,
    family=Family.MULTI_FIDELITY,
    summary="successive halving in several brackets (a scheduler)",
    use_when="like asha, when you do not know how early the resource predicts the end",
    capabilities=Capabilities(needs_resource=True, reads_intermediate=True, stops_trials=True),
)
