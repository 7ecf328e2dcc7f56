"""Sobol search: a scrambled low-discrepancy sequence, covering the space more evenly than random.

Point ``i`` of the sequence goes to trial ``i`` (the first one not yet taken at or after
``i``, in finite spaces), so the sequence resumes exactly where it stopped after a restart and
each trial gets the same point at any parallelism.
"""

from __future__ import annotations

import warnings

import numpy as np

from kubetune.algorithms.base import (
    Algorithm,
    Family,
    History,
    NoSettings,
    Suggester,
    Suggestion,
    fresh,
    next_index,
)
from kubetune.api.capabilities import Capabilities

LOOKAHEAD = 20
"""How many points past the wanted ones to look at when duplicates (finite spaces) swallow
points, per wanted suggestion."""


class SobolSearch(Suggester[NoSettings]):
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        from scipy.stats import qmc

        start = next_index(history)
        engine = qmc.Sobol(d=self.space.dims, scramble=True, seed=np.random.default_rng(self.seed))
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            # Any prefix of the sequence is well spread; the power-of-two advice does not apply.
            warnings.simplefilter("ignore", UserWarning)
            points = engine.random(n * LOOKAHEAD)
        candidates = [self.space.decode(u) for u in points]
        return fresh(self.space, candidates, history.taken(self.space), n)


ALGORITHM = Algorithm(
    name="sobol",
    suggester=SobolSearch,
    family=Family.SIMPLE,
    summary="a scrambled low-discrepancy sequence",
    use_when="like random, but evenly spread: better coverage for the same count",
    capabilities=Capabilities(several_objectives=True, constraints=True),
)
