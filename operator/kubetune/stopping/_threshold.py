"""Threshold rule: stop a trial as soon as its objective is worse than a fixed bound.

For the cases a user knows up front: "an accuracy below 0.2 after two epochs means the run
diverged". The bound is in the metric's own units, so it reads the same as the manifest's
``objective``: for a maximized metric, values *below* it are worse; for a minimized metric,
values *above* it. A reported NaN always counts as worse. Only the trial's latest report
matters (like Optuna's ``ThresholdPruner``); other trials play no part.
"""

from __future__ import annotations

import math

from pydantic import Field

from kubetune.api.capabilities import Capabilities
from kubetune.api.study import Direction
from kubetune.history import History, StopDecision
from kubetune.stopping.base import Rule, RuleSettings, StoppingRule


class ThresholdSettings(RuleSettings):
    value: float = Field(
        description="Bound in the objective metric's units; a trial reporting worse is stopped.",
    )
    start_step: int = Field(
        default=0, ge=0, description="Warm-up: reports before this step are never judged."
    )


class ThresholdRule(StoppingRule[ThresholdSettings]):
    """Stop trials whose latest objective value is worse than ``value``."""

    Settings = ThresholdSettings

    def decide(self, history: History) -> list[StopDecision]:
        settings = self.settings
        objective = history.objectives[0]
        worse = "below" if objective.direction is Direction.MAXIMIZE else "above"
        decisions = []
        for trial in history.running:
            reports = sorted(
                (
                    (point.step, point.values[objective.metric])
                    for point in trial.intermediate
                    if objective.metric in point.values
                ),
                key=lambda report: report[0],
            )
            if not reports or reports[-1][0] < settings.start_step:
                continue
            step, value = reports[-1]
            if math.isnan(value) or objective.direction.better(settings.value, value):
                decisions.append(
                    StopDecision(
                        trial.index,
                        f"threshold: {objective.metric}={value:.6g} at step {step} is {worse} "
                        f"the bound {settings.value:.6g}",
                    )
                )
        return decisions


RULE = Rule(
    name="threshold",
    rule=ThresholdRule,
    summary="stop a trial as soon as its objective is worse than a fixed bound",
    capabilities=Capabilities(reads_intermediate=True, stops_trials=True),
)
