"""The percentile rule: the cutoff moves with the percentile, peers and warm-up as for median."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.api.study import Direction, Objective
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.stopping import RuleSettingsError, create


def trial(index: int, state: TrialState, curve: list[float]) -> TrialRecord:
    points = tuple(IntermediateValue(1 + i, {"acc": v}) for i, v in enumerate(curve))
    values = {"acc": curve[-1]} if state is TrialState.COMPLETE else {}
    return TrialRecord(index, {"x": float(index)}, state, values, points)


def stopped(percentile: float, trials: list[TrialRecord], **extra: object) -> list[int]:
    rule = create("percentile", {"percentile": percentile, "minTrials": 1, **extra})
    assert rule is not None
    h = History(tuple(trials), (Objective(metric="acc", direction=Direction.MAXIMIZE),))
    return sorted(d.index for d in rule.decide(h))


# Ten finished trials with final accuracies 0.1 … 1.0 and eleven running ones at 0.05 … 1.05.
FINISHED = [trial(i, TrialState.COMPLETE, [0.1 * (i + 1)]) for i in range(10)]
RUNNING = [trial(100 + i, TrialState.RUNNING, [0.1 * i + 0.05]) for i in range(11)]


@pytest.mark.parametrize(
    ("percentile", "kept"),
    [
        # Each running trial's peers are the ten finished trials plus the ten other runners.
        (25.0, 3),  # the top quarter of all 21 holds 5 trials, 3 of them runners
        (50.0, 6),
        (90.0, 9),  # the worst two runners fall below the interpolated 10% line
        (1.0, 1),  # only the very best survives
    ],
)
def test_percentile_sets_how_many_survive(percentile: float, kept: int) -> None:
    stopped_indexes = stopped(percentile, FINISHED + RUNNING)
    survivors = sorted({t.index for t in RUNNING} - set(stopped_indexes))
    assert len(survivors) == kept
    assert survivors == [t.index for t in RUNNING][-kept:]  # and they are the best ones


def test_median_and_percentile_50_agree() -> None:
    median = create("median", {"minTrials": 1})
    assert median is not None
    h = History(tuple(FINISHED + RUNNING), (Objective(metric="acc", direction=Direction.MAXIMIZE),))
    assert [d.index for d in median.decide(h)] == stopped(50.0, FINISHED + RUNNING)


def test_min_trials_and_start_step_apply() -> None:
    assert stopped(25.0, FINISHED[:3] + RUNNING[:1], minTrials=4) == []
    assert stopped(25.0, FINISHED[:3] + RUNNING[:1], minTrials=3) == [100]
    assert stopped(25.0, FINISHED + RUNNING[:1], startStep=2) == []


@pytest.mark.parametrize("bad", [0.0, 100.0, -5.0, 150.0])
def test_percentile_must_be_inside_0_100(bad: float) -> None:
    with pytest.raises(RuleSettingsError, match=r"spec\.earlyStopping\.settings\.percentile"):
        create("percentile", {"percentile": bad})


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=12),
    st.floats(1, 99),
    st.floats(1, 99),
)
def test_a_higher_percentile_stops_a_subset(values: list[float], low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    trials = [trial(i, TrialState.RUNNING, [v]) for i, v in enumerate(values)]
    assert set(stopped(high, trials)) <= set(stopped(low, trials))
