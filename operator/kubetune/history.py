"""The trial history that suggestion algorithms and stopping rules read, and their verdicts.

It lives below both ``algorithms`` and ``stopping`` so neither depends on the other. Algorithms
and rules always *minimize*: ``History`` turns each objective into a loss (maximized metrics
are negated), so no algorithm ever looks at a direction. Whether a trial keeps the study's
constraints is decided here too, once (``feasibility``), for algorithms, the summary and the
engine's goal alike.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from kubetune.api.attributes import AttributeValue
from kubetune.api.study import Constraint, Direction, Objective
from kubetune.space import SearchSpace, Value


class TrialState(enum.Enum):
    """Where a trial stands, as far as an algorithm cares."""

    RUNNING = "running"  # pending or running: its parameters are taken, its value unknown
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"  # stopped early by a rule or scheduler; intermediate values are real

    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


@dataclass(frozen=True)
class IntermediateValue:
    step: int
    values: Mapping[str, float]


@dataclass(frozen=True)
class TrialRecord:
    """One trial as algorithms see it: parameters, state, reported metrics, and the
    attributes the algorithm attached when it suggested the trial."""

    index: int
    """The trial's index in its study; negative for a warm-start trial (``is_warm``)."""
    params: Mapping[str, Value]
    state: TrialState
    values: Mapping[str, float] = field(default_factory=dict)
    intermediate: tuple[IntermediateValue, ...] = ()
    budget: float | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def key(self, space: SearchSpace) -> tuple[tuple[str, Value], ...]:
        """``space.canonical(params)``, remembered on the record: a record never changes,
        and the planner hands algorithms the same record objects decision after decision
        (at 1,000 trials the keys were a third of a decision's cost)."""
        kept: tuple[SearchSpace, tuple[tuple[str, Value], ...]] | None = self.__dict__.get("_key")
        if kept is None or kept[0] is not space:
            kept = (space, space.canonical(self.params))
            object.__setattr__(self, "_key", kept)
        return kept[1]

    @property
    def is_warm(self) -> bool:
        """An earlier result (``spec.warmStart``), not a trial of this study: indices -1, -2, ...
        never collide with the study's own (0, 1, ...)."""
        return self.index < 0


@dataclass(frozen=True)
class History:
    """All trials of a study so far, with the objectives that turn metrics into losses."""

    trials: tuple[TrialRecord, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    issued: int = 0
    """Indices below this were given to trials of the study, including trials that are gone
    (a user deleted their Trial): no later trial gets one of them (``next_index``), so a
    deleted trial's index, and the parameters keyed on it, are never used again."""

    def __post_init__(self) -> None:
        if not self.objectives:
            raise ValueError("a history needs at least one objective")

    @property
    def is_multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def with_states(self, *states: TrialState) -> list[TrialRecord]:
        return [t for t in self.trials if t.state in states]

    @cached_property
    def completed(self) -> list[TrialRecord]:
        """Finished trials whose objective values are all known."""
        return [
            t for t in self.trials if t.state is TrialState.COMPLETE and self.losses(t) is not None
        ]

    @cached_property
    def warm_count(self) -> int:
        """Warm-start trials: points already known, so an initial design can be shorter."""
        return sum(1 for t in self.trials if t.is_warm)

    def without_warm(self) -> History:
        """Only the study's own trials (for a model that should no longer lean on earlier
        results)."""
        if not self.warm_count:
            return self
        return History(
            tuple(t for t in self.trials if not t.is_warm),
            self.objectives,
            self.constraints,
            self.issued,
        )

    @property
    def running(self) -> list[TrialRecord]:
        return self.with_states(TrialState.RUNNING)

    def losses(self, trial: TrialRecord) -> tuple[float, ...] | None:
        """The trial's objective values as losses (smaller is better), or None if any is missing."""
        return objective_losses(trial.values, self.objectives)

    def feasibility(self, trial: TrialRecord) -> Feasibility:
        """Whether the trial's reported metrics keep every constraint, and by how much not."""
        return feasibility(trial.values, self.constraints)

    def loss(self, trial: TrialRecord) -> float | None:
        """Single-objective loss of a trial (the first objective's)."""
        losses = self.losses(trial)
        return None if losses is None else losses[0]

    def intermediate_losses(self, trial: TrialRecord) -> list[tuple[int, float]]:
        """(step, loss) of the first objective at every reported step, in step order."""
        objective = self.objectives[0]
        points = []
        for point in trial.intermediate:
            value = point.values.get(objective.metric)
            if value is not None and math.isfinite(value):
                points.append((point.step, _as_loss(value, objective.direction)))
        return sorted(points)

    def completed_arrays(self, space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
        """Unit-cube inputs (n, d) and single-objective losses (n,) of completed trials."""
        trials = self.completed
        x = np.array([space.encode(t.params) for t in trials]).reshape(len(trials), space.dims)
        y = np.array([self.loss(t) for t in trials], dtype=float)
        return x, y

    def taken(self, space: SearchSpace) -> set[tuple[tuple[str, Value], ...]]:
        """Canonical keys of every parameter set already used, running or finished."""
        return {t.key(space) for t in self.trials}


def objective_losses(
    values: Mapping[str, float], objectives: Sequence[Objective]
) -> tuple[float, ...] | None:
    """Reported ``values`` as losses, one per objective, or None if any is missing or not finite."""
    result = []
    for objective in objectives:
        value = values.get(objective.metric)
        if value is None or not math.isfinite(value):
            return None
        result.append(_as_loss(value, objective.direction))
    return tuple(result)


@dataclass(frozen=True)
class Feasibility:
    """How a trial stands against the study's constraints."""

    violation: float
    """Total amount by which the constraints are broken (sum over constraints, in each
    metric's units); 0 when all hold, infinite when a constraint metric was never reported."""
    reason: str | None = None
    """Why the trial is infeasible, in the user's terms; None when it is feasible."""

    @property
    def feasible(self) -> bool:
        return self.violation == 0


FEASIBLE = Feasibility(0.0)


def feasibility(values: Mapping[str, float], constraints: Sequence[Constraint]) -> Feasibility:
    """Feasibility of reported ``values``: every constraint must hold. A constraint metric
    that is missing or not finite makes the trial infeasible (never a crash): it may simply
    not have been reported, and nothing says the limit was kept."""
    violation = 0.0
    broken: list[str] = []
    for constraint in constraints:
        value = values.get(constraint.metric)
        if value is None or not math.isfinite(value):
            return Feasibility(
                math.inf,
                f"constraint metric {constraint.metric!r} was never reported (a finite value); "
                "report it like the objectives",
            )
        amount = constraint.violation(value)
        if amount > 0:
            violation += amount
            broken.append(f"{constraint.metric}={value:g} breaks {constraint.describe()}")
    return Feasibility(violation, "; ".join(broken)) if broken else FEASIBLE


def _as_loss(value: float, direction: Direction) -> float:
    return -value if direction is Direction.MAXIMIZE else value


@dataclass(frozen=True)
class StopDecision:
    """A running trial that should end now, and why (shown in the trial's status)."""

    index: int
    reason: str
    pruned: bool = True  # pruned (judged unpromising) as opposed to stopped for other reasons
