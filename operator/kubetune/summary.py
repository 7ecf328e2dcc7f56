"""A study at a glance: trials by phase, the best trial, the Pareto front, steps saved.

Only *feasible* trials (every ``spec.constraints`` limit kept, see ``history.feasibility``)
can be the best trial or join the front; the front's hypervolume is measured up to
``spec.referencePoint``, else up to the default point ``hypervolume.default_reference_point``
derives from the worst feasible values observed so far.

The engine needs it to decide when a study ends, the operator writes it into the study's
status, ``kubetune run`` shows it while trials run, and a study record carries it for
``kubetune results``. All of them compute it here, from any trials that say their index,
phase, values and intermediate values, so the best trial and the front are the same
wherever a study is looked at. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeVar

import numpy as np

from kubetune.api.study import MAX_PARETO_FRONT, StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.history import IntermediateValue, feasibility, objective_losses
from kubetune.hypervolume import default_reference_point, hypervolume, pareto_mask


class ObservedTrial(Protocol):
    """What a summary reads of a trial; the engine's snapshots and a record's trials have it."""

    @property
    def index(self) -> int: ...

    @property
    def phase(self) -> TrialPhase: ...

    @property
    def values(self) -> Mapping[str, float]: ...

    @property
    def intermediate(self) -> tuple[IntermediateValue, ...]: ...


@dataclass(frozen=True)
class Summary:
    """Counters and best results, for status, progress bars and metrics."""

    counts: Mapping[TrialPhase, int]
    best_index: int | None
    """The best succeeded trial of a single-objective study; None for several objectives."""
    best_values: Mapping[str, float]
    pareto_indices: tuple[int, ...]
    """Non-dominated feasible succeeded trials of a multi-objective study (at most
    MAX_PARETO_FRONT, spread along the front)."""
    saved_steps: int = 0
    """Training steps pruned trials did not run: full length minus where each stopped."""
    feasible: int = 0
    """Succeeded trials with every objective reported that keep every constraint."""
    front_indices: tuple[int, ...] = ()
    """Every non-dominated feasible trial, by index, however many ``pareto_indices`` lists."""
    hypervolume: float | None = None
    """Hypervolume of the front (multi-objective, once a feasible trial exists)."""

    @property
    def front_size(self) -> int:
        return len(self.front_indices)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(n for phase, n in self.counts.items() if phase.is_finished())

    @property
    def active(self) -> int:
        return self.total - self.finished

    @property
    def has_result(self) -> bool:
        """Whether a best trial (one objective) or a Pareto front (several) exists."""
        return self.best_index is not None or bool(self.pareto_indices)


@dataclass(frozen=True)
class TrialFacts:
    """What a summary reads of one trial, derived from it alone (and the spec).

    A trial observed once does not change, so a caller that sees the same trial object again
    may hand back the facts it kept (``Planner`` does: at 1,000 trials recomputing them was
    most of a decision's cost, on the path between one trial's end and its successor's start).
    """

    scored: tuple[float, ...] | None
    """Its losses when it succeeded, reported every objective and keeps every constraint:
    the trials that can be the best or join the front."""
    last_step: int
    """The last step it reported an intermediate value for (0: none)."""


def trial_facts(spec: StudySpec, trial: ObservedTrial) -> TrialFacts:
    scored = None
    if trial.phase is TrialPhase.SUCCEEDED:
        scored = objective_losses(trial.values, spec.objective_list)
        if scored is not None and not feasibility(trial.values, spec.constraints).feasible:
            scored = None
    return TrialFacts(scored, last_step(trial))


Observed = TypeVar("Observed", bound=ObservedTrial)


def summarize(
    spec: StudySpec,
    trials: Sequence[Observed],
    facts: Callable[[Observed], TrialFacts] | None = None,
) -> Summary:
    """Counts, and the best trial or the front of the feasible succeeded trials.

    ``facts``: each trial's ``TrialFacts``, from a caller that keeps them (default: derived
    here, every call)."""
    facts_of: Callable[[Observed], TrialFacts] = facts or (lambda t: trial_facts(spec, t))
    counts = {phase: 0 for phase in TrialPhase}
    for trial in trials:
        counts[trial.phase] += 1
    objectives = spec.objective_list
    known = [(trial, facts_of(trial)) for trial in sorted(trials, key=lambda t: t.index)]
    scored = [(fact.scored, trial) for trial, fact in known if fact.scored is not None]
    saved = _saved_steps(spec, [(trial.phase, fact.last_step) for trial, fact in known])
    if len(objectives) == 1 and scored:
        # The earliest of equally good trials wins: min keeps the first of equal losses.
        _, best = min(scored, key=lambda pair: pair[0])
        return Summary(counts, best.index, best.values, (), saved, feasible=len(scored))
    if not scored:
        return Summary(counts, None, {}, (), saved)
    points = np.array([losses for losses, _ in scored], dtype=float)
    on_front = pareto_mask(points)
    reference = spec.reference_losses()
    volume = front_hypervolume(
        points[on_front], reference if reference is not None else default_reference_point(points)
    )
    members = [pair for pair, kept in zip(scored, on_front, strict=True) if kept]
    front = spread([(losses, trial.index) for losses, trial in members])
    return Summary(
        counts,
        None,
        {},
        front,
        saved,
        feasible=len(scored),
        front_indices=tuple(trial.index for _, trial in members),
        hypervolume=volume,
    )


EXACT_HYPERVOLUME_FRONT = {3: 1_000, 4: 100}
"""Largest front whose hypervolume a summary computes, by number of objectives (two: any).

Exact hypervolume grows steeply with the front for three objectives and more (a front of
1,000 points on a 3-D sphere takes ~0.4 s, 300 on a 4-D one ~7 s; ``benchmarks/
summary_front.py``), and a summary is recomputed on every reconcile; above the limit the
hypervolume is not reported rather than stall the operator."""


def front_hypervolume(front: np.ndarray, reference: Sequence[float] | np.ndarray) -> float | None:
    """Hypervolume of a front up to ``reference``, or None when the front is too large to
    compute it exactly in a reconcile (see EXACT_HYPERVOLUME_FRONT)."""
    limit = EXACT_HYPERVOLUME_FRONT.get(front.shape[1])
    if limit is not None and len(front) > limit:
        return None
    return _cached_hypervolume(front.tobytes(), front.shape, tuple(float(r) for r in reference))


@lru_cache(maxsize=64)
def _cached_hypervolume(data: bytes, shape: tuple[int, ...], reference: tuple[float, ...]) -> float:
    """A front's hypervolume, remembered: a study's front changes only when a trial ends, and
    its summary is recomputed far more often (a pure cache: same inputs, same value)."""
    return hypervolume(np.frombuffer(data).reshape(shape), reference)


def _saved_steps(spec: StudySpec, trials: Sequence[tuple[TrialPhase, int]]) -> int:
    """Steps early stopping saved, measured against a full-length trial, from each trial's
    phase and last step.

    A full-length trial runs to ``budget.resource.max`` when the study declares a resource,
    else as far as the longest trial that finished on its own.
    """
    resource = spec.budget.resource
    full = resource.max if resource is not None else 0.0
    if resource is None:
        full = max((step for phase, step in trials if phase is TrialPhase.SUCCEEDED), default=0)
    return int(sum(max(0.0, full - step) for phase, step in trials if phase is TrialPhase.PRUNED))


def last_step(trial: ObservedTrial) -> int:
    return max((point.step for point in trial.intermediate), default=0)


def pareto_front(points: Sequence[tuple[tuple[float, ...], int]]) -> tuple[int, ...]:
    """Indices of non-dominated (losses, index) points, at most MAX_PARETO_FRONT, spread
    along the first objective."""
    if not points:
        return ()
    on_front = pareto_mask(np.array([losses for losses, _ in points], dtype=float))
    return spread([point for point, kept in zip(points, on_front, strict=True) if kept])


def spread(front: Sequence[tuple[tuple[float, ...], int]]) -> tuple[int, ...]:
    """Indices of at most MAX_PARETO_FRONT of the (losses, index) points of a front, evenly
    spread along the first objective (all of them when they fit)."""
    ordered = sorted(front)
    if len(ordered) > MAX_PARETO_FRONT:
        step = (len(ordered) - 1) / (MAX_PARETO_FRONT - 1)
        ordered = [ordered[round(k * step)] for k in range(MAX_PARETO_FRONT)]
    return tuple(i for _, i in ordered)
