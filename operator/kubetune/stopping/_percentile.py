"""Percentile rule: stop a trial whose best loss is worse than most of its peers at the same step.

Optuna's ``PercentilePruner`` and Katib's ``medianstop`` under one roof (``median`` is this rule
at the 50th percentile). Peers are *all* other trials that have reached the same step —
completed, pruned and still running ones — because with parallel, asynchronous trials the
running ones are most of the evidence early in a study; waiting for completed trials only
would let the first ``parallelTrials`` trials run to the end unchecked. Failed trials are
ignored: their curves may be broken for reasons unrelated to their parameters.

A trial is judged at its *check step*: the latest step on the ``startStep + k * interval``
grid at or before the step it reported last. That keeps the verdict a pure function of the
history (a restarted operator decides the same), and a trial whose reports skip grid steps
(every other epoch, or downsampled) is still checked.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
from pydantic import Field

from kubetune.api.capabilities import Capabilities
from kubetune.history import History, StopDecision, TrialRecord, TrialState
from kubetune.stopping.base import Rule, RuleSettings, StoppingRule


class WarmupSettings(RuleSettings):
    """When a comparative rule may judge a trial at all; shared by ``median`` and ``percentile``."""

    start_step: int = Field(
        default=0,
        ge=0,
        description="Warm-up: no trial is stopped before it has reported this step.",
    )
    min_trials: int = Field(
        default=5,
        ge=1,
        description="How many other trials must have reached the check step before any verdict.",
    )
    interval: int = Field(
        default=1,
        ge=1,
        description="Check only at steps startStep, startStep + interval, startStep + 2*interval…",
    )


class PercentileSettings(WarmupSettings):
    percentile: float = Field(
        default=25.0,
        gt=0.0,
        lt=100.0,
        description="Keep trials in the best this-many percent of their peers; stop the rest.",
    )


@dataclass(frozen=True)
class _Curve:
    """A trial's reported steps and its best loss up to each of them."""

    steps: list[int]
    best: list[float]

    @classmethod
    def of(cls, history: History, trial: TrialRecord) -> _Curve | None:
        points = history.intermediate_losses(trial)
        if not points:
            return None
        steps, best, running_best = [], [], float("inf")
        for step, loss in points:
            running_best = min(running_best, loss)
            steps.append(step)
            best.append(running_best)
        return cls(steps, best)

    @property
    def last_step(self) -> int:
        return self.steps[-1]

    def best_until(self, step: int) -> float | None:
        i = bisect.bisect_right(self.steps, step) - 1
        return self.best[i] if i >= 0 else None


class CurveCache:
    """Curves of trials whose record the caller passes again unchanged (the same object): a
    long-lived caller then pays for each finished trial once. Identity keeps it pure."""

    def __init__(self) -> None:
        self._curves: dict[int, tuple[TrialRecord, History, _Curve | None]] = {}

    def curve(self, history: History, trial: TrialRecord) -> _Curve | None:
        cached = self._curves.get(trial.index)
        if cached is not None and cached[0] is trial and cached[1].objectives == history.objectives:
            return cached[2]
        curve = _Curve.of(history, trial)
        self._curves[trial.index] = (trial, history, curve)
        return curve


def percentile_stops(
    history: History, settings: WarmupSettings, percentile: float, rule: str, cache: CurveCache
) -> list[StopDecision]:
    """Running trials whose best loss is above ``percentile`` of their peers' at the check step."""
    curves = {
        t.index: curve
        for t in history.trials
        if t.state is not TrialState.FAILED and (curve := cache.curve(history, t)) is not None
    }
    decisions = []
    for trial in history.running:
        own = curves.get(trial.index)
        if own is None or own.last_step < settings.start_step:
            continue
        check = (
            settings.start_step
            + (own.last_step - settings.start_step) // settings.interval * settings.interval
        )
        peers = [
            value
            for index, curve in curves.items()
            if index != trial.index
            and curve.last_step >= check
            and (value := curve.best_until(check)) is not None
        ]
        if len(peers) < settings.min_trials:
            continue
        cutoff = float(np.percentile(peers, percentile))
        best = own.best[-1]
        if best > cutoff:
            decisions.append(
                StopDecision(
                    trial.index,
                    f"{rule}: best loss {best:.6g} by step {own.last_step} is worse than the "
                    f"{percentile:g}th percentile {cutoff:.6g} of {len(peers)} trials at step "
                    f"{check}",
                )
            )
    return decisions


class PercentileRule(StoppingRule[PercentileSettings]):
    """Stop trials outside the best ``percentile`` percent of their peers at the same step."""

    Settings = PercentileSettings

    def __init__(self, settings: PercentileSettings) -> None:
        super().__init__(settings)
        self._cache = CurveCache()

    def decide(self, history: History) -> list[StopDecision]:
        settings = self.settings
        return percentile_stops(history, settings, settings.percentile, "percentile", self._cache)


RULE = Rule(
    name="percentile",
    rule=PercentileRule,
    summary="stop trials outside the best p percent of their peers at the same step",
    capabilities=Capabilities(reads_intermediate=True, stops_trials=True),
)
