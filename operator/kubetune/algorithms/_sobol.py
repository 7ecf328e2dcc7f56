"""Sobol search: a scrambled low-discrepancy sequence, covering the space more evenly than random.

Point ``i`` of the sequence goes to the ``i``-th suggestion in the order trials were created,
so the sequence resumes exactly where it stopped after a restart.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import qmc

from kubetune.algorithms.base import History, Suggester, Suggestion, fresh

# How far past the already-used prefix of the sequence to look when duplicates (finite
# spaces) swallow points.
_LOOKAHEAD = 20


class SobolSearch(Suggester):
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        start = len(history.trials)
        engine = qmc.Sobol(d=self.space.dims, scramble=True, seed=np.random.default_rng(self.seed))
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            # Any prefix of the sequence is well spread; the power-of-two advice does not apply.
            warnings.simplefilter("ignore", UserWarning)
            points = engine.random(n * _LOOKAHEAD)
        candidates = [self.space.decode(u) for u in points]
        return fresh(self.space, candidates, history.taken(self.space), n)
