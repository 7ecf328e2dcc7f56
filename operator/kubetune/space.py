"""The search space: what a trial's parameters may be, and a shared coordinate system for them.

Every algorithm works in the unit cube ``[0, 1]^d`` — one coordinate per parameter — so log
scales, integer steps and categorical choices are handled here once instead of in each
suggester. ``encode`` and ``decode`` are inverse on the space's values; conditional parameters
(``when``) that are inactive for a parameter set encode as ``nan`` and are left out when decoded.

Whether a conditional parameter is active depends on its parents' values, so parameters are
*decided* parents first (a topological order of the ``when`` graph), whatever order the
manifest lists them in; the list order only fixes the unit-cube coordinates.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kubetune.api.study import ParameterSpec, condition_cycle

Value = float | int | str | bool
Params = Mapping[str, Value]

LEVEL_TOLERANCE = 1e-9
"""Added before flooring (high - low) / step, so a range that is an exact multiple of the step
(0.3 / 0.1) does not lose its last level to float error."""

ON_STEP_TOLERANCE = 1e-6
"""How far from a multiple of ``step`` (in steps) a value may be and still count as on it."""

STEP_EXTRA_DECIMALS = 8
"""Stepped floats are rounded this many decimals finer than the step, removing the float noise
of ``low + i * step`` while staying far below the step."""

CANONICAL_DIGITS = 12
"""Significant digits under which two continuous floats count as the same value (duplicate
checks), so values that went through an encode/decode round trip still match."""


class SpaceError(ValueError):
    """A search space or parameter set that cannot be used, with a message naming the field."""


class ParameterKind(enum.Enum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Parameter:
    """One dimension of the space; ``when`` maps categorical parents to their enabling choices."""

    name: str
    kind: ParameterKind
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    step: float | None = None
    choices: tuple[Value, ...] = ()
    when: Mapping[str, tuple[Value, ...]] = field(default_factory=dict)

    @property
    def is_categorical(self) -> bool:
        return self.kind is ParameterKind.CATEGORICAL

    @property
    def levels(self) -> int | None:
        """How many distinct values the parameter has, or None when it is continuous."""
        if self.is_categorical:
            return len(self.choices)
        if self.step is not None:
            return math.floor((self.high - self.low) / self.step + LEVEL_TOLERANCE) + 1
        if self.kind is ParameterKind.INT:
            return int(self.high - self.low) + 1
        return None

    def to_unit(self, value: Value) -> float:
        """Map a value to [0, 1]; discrete values land in the middle of their cell."""
        if self.is_categorical:
            return (self.choices.index(value) + 0.5) / len(self.choices)
        x = float(value)
        if self.step is not None:
            index = round((x - self.low) / self.step)
            return (index + 0.5) / self.discrete_levels()
        low, high = self._continuous_bounds()
        if self.log:
            return (math.log(x) - math.log(low)) / (math.log(high) - math.log(low))
        return (x - low) / (high - low)

    def from_unit(self, u: float) -> Value:
        """Map a point of [0, 1] back to the nearest value the parameter allows."""
        u = min(max(float(u), 0.0), 1.0)
        if self.is_categorical:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.step is not None:
            index = min(int(u * self.discrete_levels()), self.discrete_levels() - 1)
            return self._typed(self.low + index * self.step)
        low, high = self._continuous_bounds()
        if self.log:
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:
            x = low + u * (high - low)
        return self._typed(min(max(x, self.low), self.high))

    def contains(self, value: object) -> bool:
        if self.is_categorical:
            return any(_same_choice(value, c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is ParameterKind.INT and float(value) != int(value):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None:
            offset = (value - self.low) / self.step
            return abs(offset - round(offset)) < ON_STEP_TOLERANCE
        return True

    def grid_values(self) -> list[Value]:
        levels = self.levels
        if levels is None:
            raise SpaceError(
                f"parameter {self.name!r} is a continuous float: grid search needs a finite space; "
                "give it a step, or make it int or categorical"
            )
        if self.is_categorical:
            return list(self.choices)
        step = self.step if self.step is not None else 1.0
        return [self._typed(self.low + i * step) for i in range(levels)]

    def discrete_levels(self) -> int:
        """Levels of a parameter known to be discrete (categorical or stepped)."""
        levels = self.levels
        if levels is None:
            raise SpaceError(f"parameter {self.name!r} is continuous: it has no levels")
        return levels

    def _continuous_bounds(self) -> tuple[float, float]:
        # Integers get half a cell of padding on each side so every value owns an equal share
        # of the unit interval (log-scaled integers keep low - 0.5 > 0 since low >= 1).
        if self.kind is ParameterKind.INT:
            return self.low - 0.5, self.high + 0.5
        return self.low, self.high

    def _typed(self, x: float) -> Value:
        if self.kind is ParameterKind.INT:
            return int(min(max(round(x), self.low), self.high))
        if self.step is not None:
            # Round away the float noise of low + i * step (0.1 * 3 = 0.30000000000000004),
            # at a precision far finer than the step so the value stays on its grid.
            decimals = math.ceil(-math.log10(self.step)) + STEP_EXTRA_DECIMALS
            return min(max(round(x, decimals), self.low), self.high)
        return x


def _same_choice(value: object, choice: Value) -> bool:
    """Choices compare by value and by kind: ``True`` is not the choice ``1``."""
    return (type(value) is type(choice) and value == choice) or (
        isinstance(value, int | float)
        and isinstance(choice, int | float)
        and not isinstance(value, bool)
        and not isinstance(choice, bool)
        and value == choice
    )


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters; the order fixes the unit-cube coordinates."""

    parameters: tuple[Parameter, ...]
    _decision_order: tuple[int, ...] = field(init=False, repr=False, compare=False)
    """Positions of the parameters, every parent before the parameters whose ``when`` names it."""

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise SpaceError(f"parameter names must be unique, got {names}")
        for parameter in self.parameters:
            for parent in parameter.when:
                if parent not in names:
                    raise SpaceError(f"{parameter.name}: 'when' names no parameter {parent!r}")
        cycle = condition_cycle({p.name: list(p.when) for p in self.parameters})
        if cycle:
            raise SpaceError(f"'when' conditions form a cycle: {' -> '.join(cycle)}")
        object.__setattr__(self, "_decision_order", self._parents_first())

    def _parents_first(self) -> tuple[int, ...]:
        """A topological order of the ``when`` graph, stable with respect to the list order."""
        position = {p.name: i for i, p in enumerate(self.parameters)}
        order: list[int] = []
        placed: set[int] = set()

        def place(i: int) -> None:
            if i in placed:
                return
            for parent in self.parameters[i].when:
                place(position[parent])
            placed.add(i)
            order.append(i)

        for i in range(len(self.parameters)):
            place(i)
        return tuple(order)

    @classmethod
    def from_specs(cls, specs: Sequence[ParameterSpec]) -> SearchSpace:
        return cls(tuple(_parameter_from_spec(spec) for spec in specs))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def dims(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def is_active(self, parameter: Parameter, params: Params) -> bool:
        """Active when every parent is active and holds one of its enabling values."""
        for parent_name, enabling in parameter.when.items():
            parent = self[parent_name]
            if not self.is_active(parent, params) or parent_name not in params:
                return False
            if not any(_same_choice(params[parent_name], c) for c in enabling):
                return False
        return True

    def encode(self, params: Params) -> np.ndarray:
        """Unit-cube coordinates of a parameter set; inactive parameters are ``nan``."""
        return np.array(
            [
                p.to_unit(params[p.name]) if self.is_active(p, params) else math.nan
                for p in self.parameters
            ],
            dtype=float,
        )

    def decode(self, point: Sequence[float] | np.ndarray) -> dict[str, Value]:
        """The parameter set at a unit-cube point, keeping only the parameters it activates."""
        if len(point) != self.dims:
            raise SpaceError(f"a point of this space has {self.dims} coordinates, not {len(point)}")
        decided: dict[str, Value] = {}
        for i in self._decision_order:
            parameter, u = self.parameters[i], float(point[i])
            if self.is_active(parameter, decided):
                decided[parameter.name] = parameter.from_unit(0.5 if math.isnan(u) else u)
        return self._in_list_order(decided)

    def sample(self, rng: np.random.Generator, n: int) -> list[dict[str, Value]]:
        return [self.decode(u) for u in rng.random((n, self.dims))]

    def canonical(self, params: Params) -> tuple[tuple[str, Value], ...]:
        """A hashable key under which equal parameter sets coincide (for duplicate checks)."""
        key = []
        for parameter in self.parameters:
            if parameter.name in params and self.is_active(parameter, params):
                value = params[parameter.name]
                if parameter.kind is ParameterKind.FLOAT and parameter.step is None:
                    value = float(f"{float(value):.{CANONICAL_DIGITS}g}")
                key.append((parameter.name, value))
        return tuple(key)

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every combination of the (finite) parameters, inactive branches collapsed."""
        axes = [p.grid_values() for p in self.parameters]
        seen: set[tuple[tuple[str, Value], ...]] = set()
        for combination in itertools.product(*axes):
            params = self.decode_values(dict(zip(self.names, combination, strict=True)))
            key = self.canonical(params)
            if key not in seen:
                seen.add(key)
                yield params

    def grid_size(self) -> int:
        """Upper bound of the grid's size without enumerating it (conditions only shrink it)."""
        return math.prod(len(p.grid_values()) for p in self.parameters)

    def decode_values(self, values: Params) -> dict[str, Value]:
        """Keep only the parameters a full assignment activates."""
        decided: dict[str, Value] = {}
        for i in self._decision_order:
            parameter = self.parameters[i]
            if self.is_active(parameter, decided):
                decided[parameter.name] = values[parameter.name]
        return self._in_list_order(decided)

    def _in_list_order(self, params: Mapping[str, Value]) -> dict[str, Value]:
        return {p.name: params[p.name] for p in self.parameters if p.name in params}

    def errors(self, params: Params) -> list[str]:
        """Why a given parameter set (e.g. one of ``initialTrials``) is not in the space."""
        problems = []
        for parameter in self.parameters:
            active = self.is_active(parameter, params)
            if parameter.name not in params:
                if active:
                    problems.append(f"{parameter.name}: missing; give it a value")
                continue
            value = params[parameter.name]
            if not active:
                problems.append(
                    f"{parameter.name}: set, but inactive because of its 'when' condition; "
                    "remove it"
                )
            elif not parameter.contains(value):
                problems.append(f"{parameter.name}: {value!r} is outside {_describe(parameter)}")
        for name in params:
            if name not in self.names:
                problems.append(f"{name}: not a parameter of the study; known: {list(self.names)}")
        return problems


def _describe(parameter: Parameter) -> str:
    if parameter.is_categorical:
        return f"the choices {list(parameter.choices)}"
    text = f"[{parameter.low:g}, {parameter.high:g}]"
    if parameter.step is not None:
        text += f" in steps of {parameter.step:g} from {parameter.low:g}"
    if parameter.kind is ParameterKind.INT:
        text = "the integers in " + text
    return text


def _parameter_from_spec(spec: ParameterSpec) -> Parameter:
    kind = ParameterKind(spec.type)
    when = {parent: tuple(values) for parent, values in (spec.when or {}).items()}
    if kind is ParameterKind.CATEGORICAL:
        return Parameter(spec.name, kind, choices=tuple(spec.choices or ()), when=when)
    if spec.low is None or spec.high is None:
        raise SpaceError(f"parameter {spec.name!r} needs both 'low' and 'high'")
    step = spec.step
    if kind is ParameterKind.INT and step == 1:
        step = None  # plain integers use the padded continuous encoding, log-friendly
    return Parameter(
        spec.name,
        kind,
        low=float(spec.low),
        high=float(spec.high),
        log=spec.log,
        step=float(step) if step is not None else None,
        when=when,
    )
