"""ASHA: asynchronous successive halving with one bracket (Ray Tune's ``ASHAScheduler``).

The multi-fidelity default: new trials start all the time with ``${budget}`` = maxResource,
and each is stopped at the first rung (minResource, minResource·η, …) where it falls out of
the best 1/η of its peers. Scales to any number of parallel trials; see
``_successive_halving`` for the rung rules.
"""

from __future__ import annotations

from kubetune.algorithms._successive_halving import (
    Bracket,
    SuccessiveHalving,
    SuccessiveHalvingSettings,
)
from kubetune.algorithms.base import Algorithm, Family
from kubetune.api.capabilities import Capabilities


class Asha(SuccessiveHalving[SuccessiveHalvingSettings]):
    name = "asha"

    def make_brackets(self) -> tuple[Bracket, ...]:
        return (Bracket.ladder(self.min_resource, self.max_resource, self.eta),)


ALGORITHM = Algorithm(
    name="asha",
    suggester=Asha,
    family=Family.MULTI_FIDELITY,
    summary="asynchronous successive halving (a scheduler)",
    use_when="trials that report a learning curve over a resource",
    capabilities=Capabilities(needs_resource=True, reads_intermediate=True, stops_trials=True),
)
