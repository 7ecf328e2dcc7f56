"""Median rule: stop a trial whose best loss so far is worse than the median of its peers.

The classic pruner (Optuna ``MedianPruner``, Katib ``medianstop``, Google Vizier's median
stopping rule): the percentile rule at 50, with the same warm-up settings and the same peers
(every other non-failed trial that reached the check step; see ``_percentile``).
"""

from __future__ import annotations

from kubetune.api.capabilities import Capabilities
from kubetune.history import History, StopDecision
from kubetune.stopping._percentile import CurveCache, WarmupSettings, percentile_stops
from kubetune.stopping.base import Rule, StoppingRule

MEDIAN = 50.0
"""The median, as a percentile."""


class MedianSettings(WarmupSettings):
    """``startStep``, ``minTrials`` and ``interval``; the median needs no other knob."""


class MedianRule(StoppingRule[MedianSettings]):
    """Stop trials whose best loss is worse than the median of their peers at the same step."""

    Settings = MedianSettings

    def __init__(self, settings: MedianSettings) -> None:
        super().__init__(settings)
        self._cache = CurveCache()

    def decide(self, history: History) -> list[StopDecision]:
        return percentile_stops(history, self.settings, MEDIAN, "median", self._cache)


RULE = Rule(
    name="median",
    rule=MedianRule,
    summary="stop trials worse than the median of their peers at the same step",
    capabilities=Capabilities(reads_intermediate=True, stops_trials=True),
)
