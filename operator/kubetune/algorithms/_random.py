"""Random search: independent uniform draws in the unit cube (log scales honoured by the space).

The baseline every other algorithm must beat, and the right choice for a first look at a
space or for many cheap parallel trials. Trial ``i`` draws from a stream keyed on ``i`` alone,
so it gets the same parameters at any parallelism.
"""

from __future__ import annotations

from kubetune.algorithms.base import (
    UNIFORM_CANDIDATES_PER_SUGGESTION,
    Algorithm,
    Family,
    History,
    NoSettings,
    Suggester,
    Suggestion,
    leftover_grid,
    next_index,
)
from kubetune.api.capabilities import Capabilities
from kubetune.space import Value


class RandomSearch(Suggester[NoSettings]):
    def suggest(self, history: History, n: int) -> list[Suggestion]:
        taken = history.taken(self.space)
        first = next_index(history)
        chosen: list[Suggestion] = []
        for index in range(first, first + n):
            params = self._draw(index, taken)
            if params is None:
                break
            chosen.append(Suggestion(params))
        return chosen

    def _draw(
        self, index: int, taken: set[tuple[tuple[str, Value], ...]]
    ) -> dict[str, Value] | None:
        """Trial ``index``'s parameters: its stream's first untaken draw (then marked taken)."""
        rng = self.index_rng(index, "random")
        for candidates in (
            lambda: self.space.sample(rng, UNIFORM_CANDIDATES_PER_SUGGESTION),
            lambda: leftover_grid(self.space, rng),  # only when every draw was taken
        ):
            for params in candidates():
                key = self.space.canonical(params)
                if key not in taken:
                    taken.add(key)
                    return dict(params)
        return None


ALGORITHM = Algorithm(
    name="random",
    suggester=RandomSearch,
    family=Family.SIMPLE,
    summary="independent uniform draws",
    use_when="a first look, or very many cheap parallel trials",
    capabilities=Capabilities(several_objectives=True, constraints=True),
)
