"""A vectorized view of the search space's unit cube, shared by the model-based suggesters.

``SearchSpace`` encodes one parameter set at a time; bayesopt, tpe and cmaes work on thousands
of candidate points per suggestion and need the same facts as arrays: which coordinates are
categorical or discrete, where each discrete value's cell lies, how to move a point onto the
nearest value the space allows ("snap"), and which coordinates a point leaves inactive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kubetune.algorithms.base import History, Suggestion, TrialState
from kubetune.space import Parameter, ParameterKind, Params, SearchSpace, Value

# Discrete parameters with more values than this are optimized as continuous coordinates
# and snapped afterwards; fewer are searched value by value.
ENUMERABLE_LEVELS = 32


@dataclass(frozen=True)
class Geometry:
    """Per-coordinate facts of a search space, as numpy arrays of length ``dims``."""

    space: SearchSpace
    categorical: np.ndarray  # bool
    levels: np.ndarray  # int; 0 for continuous coordinates
    # Parent coordinate and enabling category indices of each conditional coordinate.
    conditions: tuple[tuple[tuple[int, frozenset[int]], ...], ...]

    @classmethod
    def of(cls, space: SearchSpace) -> Geometry:
        names = list(space.names)
        conditions = []
        for parameter in space.parameters:
            rules = []
            for parent_name, enabling in parameter.when.items():
                parent = space[parent_name]
                indices = frozenset(i for i, c in enumerate(parent.choices) if c in enabling)
                rules.append((names.index(parent_name), indices))
            conditions.append(tuple(rules))
        return cls(
            space,
            np.array([p.is_categorical for p in space.parameters], dtype=bool),
            np.array([p.levels or 0 for p in space.parameters], dtype=int),
            tuple(conditions),
        )

    @property
    def dims(self) -> int:
        return self.space.dims

    def encode_many(self, params_list: Sequence[Params]) -> np.ndarray:
        """``space.encode`` for many parameter sets at once (n, d), one column at a time.

        A parameter absent from a set is inactive there (nan): the sets come from the history,
        where only active parameters are ever stored.
        """
        out = np.full((len(params_list), self.dims), np.nan)
        for dim, parameter in enumerate(self.space.parameters):
            name = parameter.name
            rows = [i for i, params in enumerate(params_list) if name in params]
            if not rows:
                continue
            values = [params_list[i][name] for i in rows]
            out[rows, dim] = _to_unit_many(parameter, values)
        return out

    def read(
        self, history: History, extra: Sequence[Suggestion] = ()
    ) -> tuple[np.ndarray, np.ndarray, set[bytes]]:
        """What the suggesters need from a history, with every trial encoded once: inputs
        (n, d) and losses (n,) of the completed trials (``history.completed_arrays``), and the
        keys of every parameter set already taken, running and ``extra`` ones included."""
        trials = history.trials
        encoded = self.encode_many([t.params for t in trials] + [s.params for s in extra])
        losses = [history.loss(t) if t.state is TrialState.COMPLETE else None for t in trials]
        rows = [i for i, loss in enumerate(losses) if loss is not None]
        y = np.array([losses[i] for i in rows], dtype=float)
        return encoded[rows], y, set(self.keys(encoded))

    @staticmethod
    def keys(x: np.ndarray) -> list[bytes]:
        """Hashable identities of encoded points: equal parameter sets, equal keys."""
        rounded = np.round(np.nan_to_num(x, nan=-1.0), 10) + 0.0  # + 0.0: no negative zeros
        return [row.tobytes() for row in rounded]

    def fresh(self, candidates: np.ndarray, taken: set[bytes], n: int) -> list[Suggestion]:
        """The first ``n`` snapped candidate points not yet taken; marks them taken."""
        chosen: list[Suggestion] = []
        for key, point in zip(self.keys(candidates), candidates, strict=True):
            if len(chosen) == n:
                break
            if key not in taken:
                taken.add(key)
                chosen.append(Suggestion(self.space.decode(point)))
        return chosen

    @property
    def discrete(self) -> np.ndarray:
        return self.levels > 0

    @property
    def continuous(self) -> np.ndarray:
        return ~self.discrete

    @property
    def has_conditions(self) -> bool:
        return any(self.conditions)

    def category(self, x: np.ndarray, dim: int) -> np.ndarray:
        """Index of the category coordinate ``dim`` of points ``x`` (n, d) falls in; -1 if nan."""
        return _category_index(x[:, dim], int(self.levels[dim]))

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Points moved onto values the space allows; inactive coordinates become nan."""
        out = np.clip(np.array(x, dtype=float), 0.0, 1.0)
        for dim, parameter in enumerate(self.space.parameters):
            if self.levels[dim]:
                out[:, dim] = _snap_parameter(parameter, out[:, dim])
        if self.has_conditions:
            out[~self.active(out)] = np.nan
        return np.asarray(out)

    def active(self, x: np.ndarray) -> np.ndarray:
        """Which coordinates of points ``x`` (n, d) are active under the space's conditions."""
        mask = np.ones(x.shape, dtype=bool)
        done = [False] * self.dims

        def resolve(dim: int) -> None:
            if done[dim]:
                return
            for parent, enabling in self.conditions[dim]:
                resolve(parent)
                column = np.where(mask[:, parent], x[:, parent], np.nan)
                index = _category_index(column, int(self.levels[parent]))
                mask[:, dim] &= mask[:, parent] & np.isin(index, list(enabling))
            done[dim] = True

        for dim in range(self.dims):
            resolve(dim)
        return mask

    def cell(self, dim: int, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper unit-cube edges of the discrete value each ``u`` lies in."""
        parameter = self.space.parameters[dim]
        count = int(self.levels[dim])
        if parameter.kind is ParameterKind.INT and parameter.step is None:
            value = _int_value(parameter, u)
            return _int_unit(parameter, value - 0.5), _int_unit(parameter, value + 0.5)
        index = np.minimum(np.floor(u * count), count - 1)
        return index / count, (index + 1) / count

    def values(self, dim: int) -> np.ndarray:
        """Unit-cube centres of every value of a discrete coordinate (at most a few hundred)."""
        parameter = self.space.parameters[dim]
        count = int(self.levels[dim])
        if parameter.kind is ParameterKind.INT and parameter.step is None:
            return _int_unit(parameter, parameter.low + np.arange(count, dtype=float))
        return (np.arange(count) + 0.5) / count

    def neighbours(self, dim: int, u: float, reach: int = 2) -> np.ndarray:
        """Centres of the values within ``reach`` steps of ``u`` (all of them if few), not ``u``."""
        count = int(self.levels[dim])
        if self.categorical[dim] or count <= 2 * reach + 1:
            centres = self.values(dim)
        else:
            low, high = self.cell(dim, np.array([u]))
            width = float(high[0] - low[0])
            parameter = self.space.parameters[dim]
            if parameter.kind is ParameterKind.INT and parameter.step is None:
                value = float(_int_value(parameter, np.array([u]))[0])
                steps = np.arange(-reach, reach + 1, dtype=float) + value
                steps = steps[(steps >= parameter.low) & (steps <= parameter.high)]
                centres = _int_unit(parameter, steps)
            else:
                index = math.floor(float(low[0]) / width + 0.5)
                steps = np.arange(index - reach, index + reach + 1, dtype=float)
                steps = steps[(steps >= 0) & (steps < count)]
                centres = (steps + 0.5) / count
        return centres[np.abs(centres - u) > 1e-12]


def _to_unit_many(parameter: Parameter, values: list[Value]) -> np.ndarray:
    if parameter.is_categorical:
        index = {(type(c), c): i for i, c in enumerate(parameter.choices)}
        return np.array(
            [
                (index[(type(v), v)] + 0.5) / len(parameter.choices)
                if (type(v), v) in index
                else parameter.to_unit(v)
                for v in values
            ]
        )
    x = np.array(values, dtype=float)
    if parameter.step is not None:
        count = parameter.discrete_levels()
        return np.asarray((np.round((x - parameter.low) / parameter.step) + 0.5) / count)
    if parameter.kind is ParameterKind.INT:
        return _int_unit(parameter, x)
    if parameter.log:
        low, high = math.log(parameter.low), math.log(parameter.high)
        return np.asarray((np.log(x) - low) / (high - low))
    return (x - parameter.low) / (parameter.high - parameter.low)


def _category_index(column: np.ndarray, count: int) -> np.ndarray:
    index = np.minimum(np.floor(np.nan_to_num(column, nan=0.0) * count), count - 1)
    return np.where(np.isnan(column), -1, index).astype(int)


def _snap_parameter(parameter: Parameter, u: np.ndarray) -> np.ndarray:
    if parameter.kind is ParameterKind.INT and parameter.step is None:
        return _int_unit(parameter, _int_value(parameter, u))
    count = parameter.discrete_levels()
    return np.asarray((np.minimum(np.floor(u * count), count - 1) + 0.5) / count)


def _int_bounds(parameter: Parameter) -> tuple[float, float]:
    low, high = parameter.low - 0.5, parameter.high + 0.5
    return (math.log(low), math.log(high)) if parameter.log else (low, high)


def _int_value(parameter: Parameter, u: np.ndarray) -> np.ndarray:
    """The integer a plain int parameter decodes ``u`` to (as Parameter.from_unit does)."""
    low, high = _int_bounds(parameter)
    x = low + np.clip(u, 0.0, 1.0) * (high - low)
    if parameter.log:
        x = np.exp(x)
    return np.asarray(np.clip(np.round(x), parameter.low, parameter.high))


def _int_unit(parameter: Parameter, value: np.ndarray) -> np.ndarray:
    low, high = _int_bounds(parameter)
    x = np.log(np.maximum(value, 1e-300)) if parameter.log else value
    return (x - low) / (high - low)
