"""Median rule: stop a trial whose best loss so far is worse than the median of its peers.

The classic pruner (Optuna ``MedianPruner``, Katib ``medianstop``, Google Vizier's median
stopping rule): the percentile rule at 50, with the same warm-up settings and the same peers
(every other non-failed trial that reached the check step; see ``_percentile``).
"""

from __future__ import annotations

from kubetune.history import History, StopDecision
from kubetune.stopping._percentile import CurveCache, WarmupSettings, percentile_stops
from kubetune.stopping.base import RuleSettings, StoppingRule


class MedianSettings(WarmupSettings):
    """``startStep``, ``minTrials`` and ``interval``; the median needs no other knob."""


class MedianRule(StoppingRule):
    """Stop trials whose best loss is worse than the median of their peers at the same step."""

    Settings = MedianSettings

    def __init__(self, settings: RuleSettings) -> None:
        super().__init__(settings)
        self._cache = CurveCache()

    def decide(self, history: History) -> list[StopDecision]:
        settings = self.settings
        if not isinstance(settings, MedianSettings):
            raise TypeError(f"median rule needs MedianSettings, got {type(settings)}")
        return percentile_stops(history, settings, 50.0, "median", self._cache)
