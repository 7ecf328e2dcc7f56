"""The bounded series of intermediate values that a Trial's status carries.

A trial may report every step for a week, but its Trial object must stay small (etcd caps
objects at 1.5 MiB, and every watcher receives every update). So the series holds at most
``MAX_INTERMEDIATE_POINTS``; when it overflows, every other interior point is dropped, which
keeps the points evenly spread over the whole run. The first point, the last point and the
best point of each objective are never dropped: early-stopping rules compare trials at the
same step, and the best value is what the study is looking for.

This mirrors ``kubetune.api.trial.MAX_INTERMEDIATE_POINTS``; the runner cannot import the
operator's package, so the limit is repeated here and a test keeps the two equal.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Any

from kubetune_runner._env import Objective

MAX_INTERMEDIATE_POINTS = 100

Values = dict[str, float]


class BoundedSeries:
    """Intermediate points ``(step, values)`` sorted by step, at most ``limit`` of them."""

    def __init__(
        self, objectives: Sequence[Objective] = (), limit: int = MAX_INTERMEDIATE_POINTS
    ) -> None:
        if limit < 2 + len(objectives):
            raise ValueError(f"limit {limit} cannot keep first, last and best points")
        self._objectives = list(objectives)
        self._limit = limit
        self._steps: list[int] = []
        self._values: list[Values] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, step: int, values: Values) -> None:
        """Record a point; a step already present merges into it (later values win)."""
        index = bisect.bisect_left(self._steps, step)
        if index < len(self._steps) and self._steps[index] == step:
            self._values[index].update(values)
        else:
            self._steps.insert(index, step)
            self._values.insert(index, dict(values))
            if len(self._steps) > self._limit:
                self._downsample()

    def add_older(self, points: Iterable[tuple[int, Values]]) -> None:
        """Merge points reported before this process started; what we hold already wins."""
        for step, values in points:
            index = bisect.bisect_left(self._steps, step)
            if index < len(self._steps) and self._steps[index] == step:
                self._values[index] = {**values, **self._values[index]}
            else:
                self.add(step, values)

    def points(self) -> list[tuple[int, Values]]:
        return [(step, dict(values)) for step, values in zip(self._steps, self._values)]

    def to_status(self) -> list[dict[str, Any]]:
        """The ``status.intermediate`` list of the Trial resource."""
        return [{"step": step, "values": dict(values)} for step, values in self.points()]

    def best_indexes(self) -> set[int]:
        best: set[int] = set()
        for objective in self._objectives:
            found: int | None = None
            for index, values in enumerate(self._values):
                value = values.get(objective.metric)
                if value is not None and (
                    found is None or objective.better(value, self._values[found][objective.metric])
                ):
                    found = index
            if found is not None:
                best.add(found)
        return best

    def _downsample(self) -> None:
        while len(self._steps) > self._limit:
            last = len(self._steps) - 1
            keep = {0, last} | self.best_indexes()
            interior = [index for index in range(1, last) if index not in keep]
            dropped = set(interior[1::2]) or set(interior[:1])
            self._steps = [s for i, s in enumerate(self._steps) if i not in dropped]
            self._values = [v for i, v in enumerate(self._values) if i not in dropped]
