"""Grid search: every combination of the (finite) parameters, in a shuffled order.

The order is shuffled with the seed so that a study stopped after a fraction of the grid has
still seen all of it coarsely, rather than only the first values of the first parameter.
Trial ``i`` gets the first point of that order not taken by trials before it, so each trial
gets the same point at any parallelism.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from kubetune.algorithms.base import (
    Algorithm,
    AlgorithmSettings,
    Family,
    History,
    Suggester,
    Suggestion,
    fresh,
)
from kubetune.api.capabilities import Capabilities
from kubetune.space import SearchSpace, SpaceError

MAX_GRID_POINTS = 1_000_000
"""Largest grid accepted: enumerating it happens in the operator, on every restart."""


class GridSettings(AlgorithmSettings):
    shuffle: bool = Field(default=True, description="Visit the grid in a seeded random order.")


class GridSearch(Suggester[GridSettings]):
    Settings = GridSettings

    def __init__(self, space: SearchSpace, settings: GridSettings, seed: int) -> None:
        super().__init__(space, settings, seed)
        size = space.grid_size()  # raises SpaceError naming a continuous parameter
        if size > MAX_GRID_POINTS:
            raise SpaceError(
                f"the grid has {size:,} points, more than {MAX_GRID_POINTS:,}; "
                "use fewer levels or another algorithm"
            )
        self._points = list(space.grid())
        if settings.shuffle:
            order = np.random.default_rng(seed).permutation(len(self._points))
            self._points = [self._points[i] for i in order]

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        return fresh(self.space, self._points, history.taken(self.space), n)


ALGORITHM = Algorithm(
    name="grid",
    suggester=GridSearch,
    family=Family.SIMPLE,
    summary="every combination of a finite space",
    use_when="few discrete parameters you want covered exactly",
    capabilities=Capabilities(several_objectives=True, constraints=True),
)
