"""The threshold rule: a bound in the metric's own units, both directions, warm-up, NaN."""

from __future__ import annotations

import math

import pytest

from kubetune.api.study import Direction, Objective
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.stopping import RuleSettingsError, create


def trial(index: int, curve: list[float], state: TrialState = TrialState.RUNNING) -> TrialRecord:
    points = tuple(IntermediateValue(i, {"m": v}) for i, v in enumerate(curve))
    return TrialRecord(index, {}, state, {}, points)


def stopped(
    direction: Direction, rule_settings: dict[str, object], *trials: TrialRecord
) -> list[int]:
    rule = create("threshold", rule_settings)
    assert rule is not None
    h = History(trials, (Objective(metric="m", direction=direction),))
    return sorted(d.index for d in rule.decide(h))


MAX, MIN = Direction.MAXIMIZE, Direction.MINIMIZE


@pytest.mark.parametrize(
    ("direction", "rule_settings", "curve", "stop"),
    [
        (MAX, {"value": 0.5}, [0.9, 0.4], True),  # accuracy fell below the bound
        (MAX, {"value": 0.5}, [0.4, 0.6], False),  # only the latest report counts
        (MAX, {"value": 0.5}, [0.5], False),  # equal is not worse
        (MIN, {"value": 0.5}, [0.4, 0.6], True),  # loss rose above the bound
        (MIN, {"value": 0.5}, [0.6, 0.4], False),
        (MIN, {"value": -1.0}, [-2.0], False),  # negative bounds stay in metric units
        (MAX, {"value": -1.0}, [-2.0], True),
        (MAX, {"value": 0.5, "startStep": 2}, [0.1, 0.1], False),  # latest step 1 < 2
        (MAX, {"value": 0.5, "startStep": 1}, [0.1, 0.1], True),
        (MIN, {"value": 10.0}, [1.0, math.nan], True),  # diverged
        (MAX, {"value": 0.0}, [], False),  # nothing reported yet
    ],
)
def test_decisions(
    direction: Direction, rule_settings: dict[str, object], curve: list[float], stop: bool
) -> None:
    assert stopped(direction, rule_settings, trial(3, curve)) == ([3] if stop else [])


def test_finished_trials_are_never_stopped() -> None:
    finished = [trial(i, [0.0], state) for i, state in enumerate(TrialState) if state.is_finished()]
    assert stopped(MAX, {"value": 0.5}, *finished, trial(9, [0.0])) == [9]


def test_reason_is_in_metric_units() -> None:
    rule = create("threshold", {"value": 0.5})
    assert rule is not None
    h = History((trial(1, [0.25]),), (Objective(metric="m", direction=MAX),))
    (decision,) = rule.decide(h)
    assert decision.reason == "threshold: m=0.25 at step 0 is below the bound 0.5"


def test_value_is_required() -> None:
    with pytest.raises(RuleSettingsError, match=r"spec\.earlyStopping\.settings\.value"):
        create("threshold", {})
