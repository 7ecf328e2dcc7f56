"""Asynchronous successive halving, the rung logic ASHA and Hyperband share.

Trials cannot checkpoint in general, so this is the *stopping-based* form of ASHA (Li et al.,
"A System for Massively Parallel Hyperparameter Tuning", 2020; Ray Tune's ``ASHAScheduler``):
every trial is launched with the full resource (``${budget}`` = ``maxResource``) and reports
its objective at steps measured in that resource. Rungs sit at ``first * η^k`` below
``maxResource``. A running trial that has passed a rung keeps going only while its loss at
that rung is in the best ``1/η`` of everything its bracket recorded there; otherwise
``stops`` ends it. Nothing ever waits for a rung to fill, so any number of parallel trials
keeps every worker busy.

Unlike Ray, which judges a trial once, on arrival, against the trials that happened to arrive
before it, a trial is judged against *everything* recorded at its latest rung right now: the
operator is stateless and arrival order is not in the history, and it also stops early lucky
trials once better ones catch up, instead of letting them run to the next rung.

A trial's value at a rung is its loss at the first step it reported at or past the rung.
Failed trials are ignored. Trials are put into brackets by index (``Hyperband``), so a
restarted operator places them exactly where they were.

New configurations come from a *sampler*: ``random`` or ``sobol``, or BOHB-style a model
(``tpe``, ``bayesopt``) fitted to the losses at the largest resource level with enough
observations, until then random.
"""

from __future__ import annotations

import abc
import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

import numpy as np
from pydantic import Field

from kubetune.algorithms.base import (
    History,
    ResourceSettings,
    SettingsError,
    StopDecision,
    Suggester,
    Suggestion,
    TrialRecord,
    TrialState,
)
from kubetune.api.study import Direction, Objective
from kubetune.space import SearchSpace

Sampler = Literal["random", "sobol", "tpe", "bayesopt"]
_MODEL_SAMPLERS = ("tpe", "bayesopt")

MODEL_EXTRA_POINTS = 2
"""A model sampler is fitted once a resource level has this many observations beyond the
number of parameters (BOHB's ``min_points_in_model`` is dims + 1)."""

RELATIVE_TOLERANCE = 1e-9
"""Rung positions are products of floats: a rung this close (relatively) to a level, or to
maxResource, counts as reaching it."""


class SuccessiveHalvingSettings(ResourceSettings):
    NEEDS_RESOURCE: ClassVar[str] = "asha and hyperband need the training resource"

    min_resource: float | None = Field(
        default=None,
        gt=0,
        description="First rung (grace period). Default: spec.budget.resource.min.",
    )
    max_resource: float | None = Field(
        default=None,
        gt=0,
        description="Resource every trial is launched with (${budget}). "
        "Default: spec.budget.resource.max.",
    )
    reduction_factor: float = Field(
        default=3.0,
        gt=1.0,
        description="η: rungs are η apart and the best 1/η of each rung continue.",
    )
    sampler: Sampler = Field(
        default="random",
        description="Where new configurations come from: random, sobol, or a tpe/bayesopt "
        "model of the largest well-observed rung (BOHB).",
    )
    sampler_settings: dict[str, Any] = Field(
        default_factory=dict, description="Settings passed to the sampler's algorithm."
    )


@dataclass(frozen=True)
class Bracket:
    """One successive-halving ladder: the resource levels at which its trials are judged."""

    rungs: tuple[float, ...]

    @classmethod
    def ladder(cls, first: float, end: float, eta: float) -> Bracket:
        rungs = []
        level = first
        while level < end * (1 - RELATIVE_TOLERANCE):
            rungs.append(level)
            level *= eta
        return cls(tuple(rungs))


class _Trajectory:
    """A trial's reported (step, loss) points, for looking up its value at a rung."""

    def __init__(self, history: History, trial: TrialRecord) -> None:
        points = history.intermediate_losses(trial)
        self.steps = [step for step, _ in points]
        self.losses = [loss for _, loss in points]

    def at(self, level: float) -> float | None:
        """Loss at the first report at or past ``level``; None if the trial is not there yet."""
        i = bisect.bisect_left(self.steps, level - RELATIVE_TOLERANCE)
        return self.losses[i] if i < len(self.steps) else None

    @property
    def last_step(self) -> float:
        return self.steps[-1] if self.steps else -math.inf


HalvingSettingsT = TypeVar("HalvingSettingsT", bound=SuccessiveHalvingSettings)


class SuccessiveHalving(Suggester[HalvingSettingsT], Generic[HalvingSettingsT]):
    """Base of ``asha`` and ``hyperband``: subclasses say which brackets exist and who is where.

    Both declare ``needs_resource``: the engine fills minResource/maxResource from
    ``spec.budget.resource`` and validation refuses a study without one.
    """

    Settings = SuccessiveHalvingSettings

    name: ClassVar[str]

    def __init__(self, space: SearchSpace, settings: HalvingSettingsT, seed: int) -> None:
        super().__init__(space, settings, seed)
        # The settings validator refuses a missing resource; this narrows the type.
        if settings.min_resource is None or settings.max_resource is None:
            raise SettingsError(f"{self.name} needs minResource and maxResource (budget.resource)")
        self.min_resource = settings.min_resource
        self.max_resource = settings.max_resource
        self.eta = settings.reduction_factor
        self.brackets = self.make_brackets()
        self._sampler, self._model = _samplers(space, settings, seed)
        self._trajectories: dict[int, tuple[TrialRecord, tuple[Objective, ...], _Trajectory]] = {}

    @abc.abstractmethod
    def make_brackets(self) -> tuple[Bracket, ...]:
        """The brackets, from the most aggressive (first rung at minResource) on."""

    def bracket_of(self, index: int) -> int:
        """Which bracket the trial with this index belongs to."""
        return 0

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        proposals = self._propose(history, n)
        return [Suggestion(s.params, self.max_resource) for s in proposals]

    def stops(self, history: History) -> list[StopDecision]:
        paths = {
            t.index: self._trajectory(history, t)
            for t in history.trials
            if t.state is not TrialState.FAILED
        }
        members: dict[int, list[_Trajectory]] = {}
        for index, path in paths.items():
            members.setdefault(self.bracket_of(index), []).append(path)
        cutoffs: dict[tuple[int, float], tuple[float, int]] = {}
        decisions = []
        for trial in history.running:
            bracket = self.bracket_of(trial.index)
            own = paths[trial.index]
            reached = [
                r for r in self.brackets[bracket].rungs if own.last_step >= r - RELATIVE_TOLERANCE
            ]
            value = own.at(reached[-1]) if reached else None
            if value is None:
                continue
            rung = reached[-1]
            if (bracket, rung) not in cutoffs:
                recorded = [v for path in members[bracket] if (v := path.at(rung)) is not None]
                cutoff = float(np.percentile(recorded, 100.0 / self.eta))
                cutoffs[bracket, rung] = cutoff, len(recorded)
            cutoff, count = cutoffs[bracket, rung]
            if value > cutoff:
                decisions.append(
                    StopDecision(
                        trial.index,
                        f"{self.name}: loss {value:.6g} at rung {rung:g} of bracket {bracket} "
                        f"is outside the best 1/{self.eta:g} of its {count} trials "
                        f"(cutoff {cutoff:.6g})",
                    )
                )
        return decisions

    def _trajectory(self, history: History, trial: TrialRecord) -> _Trajectory:
        """The trial's trajectory, reused while the caller passes the very same record (a
        finished trial's record, in a long-lived caller); identity makes it a pure cache."""
        cached = self._trajectories.get(trial.index)
        if cached is not None and cached[0] is trial and cached[1] == history.objectives:
            return cached[2]
        path = _Trajectory(history, trial)
        self._trajectories[trial.index] = (trial, history.objectives, path)
        return path

    def _propose(self, history: History, n: int) -> list[Suggestion]:
        if self._model is not None:
            view = self._model_view(history)
            if view is not None:
                return self._model.suggest(view, n)
        return self._sampler.suggest(history, n)

    def _model_view(self, history: History) -> History | None:
        """The history as the model should see it: losses at the largest well-observed level.

        Trials that got there are complete with that loss; running ones stay running (so the
        model keeps parallel suggestions apart); trials that ended before the level are failed,
        which keeps their parameters taken but out of the fit.
        """
        levels = sorted({r for b in self.brackets for r in b.rungs} | {self.max_resource})
        paths = [(t, _Trajectory(history, t)) for t in history.trials]
        enough = self.space.dims + 1 + MODEL_EXTRA_POINTS
        for level in reversed(levels):
            values = {t.index: self._value_at(history, t, path, level) for t, path in paths}
            if sum(v is not None for v in values.values()) < enough:
                continue
            records = []
            for trial, _ in paths:
                value = values[trial.index]
                if value is not None:
                    state, losses = TrialState.COMPLETE, {"loss": value}
                elif trial.state is TrialState.RUNNING:
                    state, losses = TrialState.RUNNING, {}
                else:
                    state, losses = TrialState.FAILED, {}
                records.append(TrialRecord(trial.index, trial.params, state, losses))
            loss = Objective(metric="loss", direction=Direction.MINIMIZE)
            return History(tuple(records), (loss,))
        return None

    def _value_at(
        self, history: History, trial: TrialRecord, path: _Trajectory, level: float
    ) -> float | None:
        if trial.state is TrialState.FAILED:
            return None
        if level >= self.max_resource and trial.state is TrialState.COMPLETE:
            return history.loss(trial)  # ran to the end: its final value is the value there
        return path.at(level)


def _samplers(
    space: SearchSpace, settings: SuccessiveHalvingSettings, seed: int
) -> tuple[Suggester[Any], Suggester[Any] | None]:
    """The plain sampler, and the model sampler when one is asked for (looked up at call time:
    model algorithms live beside this module and register in the same registry)."""
    from kubetune import algorithms

    if settings.sampler in _MODEL_SAMPLERS:
        if settings.sampler not in algorithms.REGISTRY:
            raise SettingsError(
                f"spec.algorithm.settings.sampler: {settings.sampler!r} is not available here"
            )
        model = algorithms.create(settings.sampler, space, settings.sampler_settings, seed)
        return algorithms.create("random", space, {}, seed), model
    return algorithms.create(settings.sampler, space, settings.sampler_settings, seed), None


def smooth_round_robin(weights: Sequence[int]) -> tuple[int, ...]:
    """A sequence holding item ``i`` ``weights[i]`` times, each spread evenly (nginx's smooth
    weighted round robin), so any stretch of consecutive trials covers every bracket."""
    current = [0] * len(weights)
    total = sum(weights)
    order = []
    for _ in range(total):
        current = [c + w for c, w in zip(current, weights, strict=True)]
        chosen = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[chosen] -= total
        order.append(chosen)
    return tuple(order)
