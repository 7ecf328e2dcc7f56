"""ASHA: asynchronous successive halving with one bracket (Ray Tune's ``ASHAScheduler``).

The multi-fidelity default: new trials start all the time with ``${budget}`` = maxResource,
and each is stopped at the first rung (minResource, minResource·η, …) where it falls out of
the best 1/η of its peers. Scales to any number of parallel trials; see
``_successive_halving`` for the rung rules.
"""

from __future__ import annotations

from kubetune.algorithms._successive_halving import Bracket, SuccessiveHalving


class Asha(SuccessiveHalving):
    name = "asha"

    def make_brackets(self) -> tuple[Bracket, ...]:
        return (Bracket.ladder(self.min_resource, self.max_resource, self.eta),)
