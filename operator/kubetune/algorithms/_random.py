"""Random search: independent uniform draws in the unit cube (log scales honoured by the space).

The baseline every other algorithm must beat, and the right choice for a first look at a
space or for many cheap parallel trials.
"""

from __future__ import annotations

from kubetune.algorithms.base import History, Suggester, Suggestion, fresh

# Finite spaces can be nearly used up; draw this many candidates per wanted suggestion so a
# duplicate is replaced by another draw instead of returning short.
_OVERSAMPLING = 20


class RandomSearch(Suggester):
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        rng = self.rng(history, "random")
        return fresh(
            self.space, self.space.sample(rng, n * _OVERSAMPLING), history.taken(self.space), n
        )
