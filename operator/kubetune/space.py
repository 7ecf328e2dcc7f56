"""The search space: what a trial's parameters may be, and a shared coordinate system for them.

Every algorithm works in the unit cube ``[0, 1]^d`` — one coordinate per parameter — so log
scales, integer steps and categorical choices are handled here once instead of in each
suggester. ``encode`` and ``decode`` are inverse on the space's values; conditional parameters
(``when``) that are inactive for a parameter set encode as ``nan`` and are left out when decoded.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kubetune.api.study import ParameterSpec

Value = float | int | str | bool
Params = Mapping[str, Value]


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
            return math.floor((self.high - self.low) / self.step + 1e-9) + 1
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
            return (index + 0.5) / self._levels()
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
            index = min(int(u * self._levels()), self._levels() - 1)
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
            return abs(offset - round(offset)) < 1e-6
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

    def _levels(self) -> int:
        levels = self.levels
        assert levels is not None
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
            decimals = math.ceil(-math.log10(self.step)) + 8
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

    def __post_init__(self) -> None:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise SpaceError(f"parameter names must be unique, got {names}")

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
        params: dict[str, Value] = {}
        for parameter, u in zip(self.parameters, point, strict=True):
            if self.is_active(parameter, params):
                params[parameter.name] = parameter.from_unit(0.5 if math.isnan(u) else u)
        return params

    def sample(self, rng: np.random.Generator, n: int) -> list[dict[str, Value]]:
        return [self.decode(u) for u in rng.random((n, self.dims))]

    def canonical(self, params: Params) -> tuple[tuple[str, Value], ...]:
        """A hashable key under which equal parameter sets coincide (for duplicate checks)."""
        key = []
        for parameter in self.parameters:
            if parameter.name in params and self.is_active(parameter, params):
                value = params[parameter.name]
                if parameter.kind is ParameterKind.FLOAT and parameter.step is None:
                    value = float(f"{float(value):.12g}")
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
        params: dict[str, Value] = {}
        for parameter in self.parameters:
            if self.is_active(parameter, params):
                params[parameter.name] = values[parameter.name]
        return params

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
    assert spec.low is not None and spec.high is not None
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
