"""The median rule: exact verdicts on hand-made histories, warm-up edges, invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.api.study import Direction, Objective
from kubetune.history import History, IntermediateValue, TrialRecord, TrialState
from kubetune.stopping import RULES, RuleSettingsError, create

RUNNING, COMPLETE, PRUNED, FAILED = (
    TrialState.RUNNING,
    TrialState.COMPLETE,
    TrialState.PRUNED,
    TrialState.FAILED,
)


def trial(index: int, state: TrialState, curve: list[float], start: int = 1) -> TrialRecord:
    """A trial that reported ``curve[i]`` of metric ``loss`` at step ``start + i``."""
    points = tuple(IntermediateValue(start + i, {"loss": v}) for i, v in enumerate(curve))
    values = {"loss": curve[-1]} if state is COMPLETE and curve else {}
    return TrialRecord(index, {"x": float(index)}, state, values, points)


def history(*trials: TrialRecord, direction: Direction = Direction.MINIMIZE) -> History:
    return History(trials, (Objective(metric="loss", direction=direction),))


def stopped(settings: dict[str, object], *trials: TrialRecord, **kw: Direction) -> list[int]:
    rule = create("median", settings)
    assert rule is not None
    return sorted(d.index for d in rule.decide(history(*trials, **kw)))


PEERS = [trial(i, COMPLETE, [1.0 + i, 0.9 + i, 0.8 + i]) for i in range(3)]  # bests 0.8,1.8,2.8


@pytest.mark.parametrize(
    ("case", "rule_settings", "trials", "expected"),
    [
        (
            "worse than median is stopped",
            {"minTrials": 3},
            [*PEERS, trial(9, RUNNING, [5, 4])],
            [9],
        ),
        ("better than median continues", {"minTrials": 3}, [*PEERS, trial(9, RUNNING, [2, 1])], []),
        # The median of peers at step 2 is 1.9 (their bests up to step 2: 0.9, 1.9, 2.9).
        ("equal to the median continues", {"minTrials": 3}, [*PEERS, trial(9, RUNNING, [1.9])], []),
        (
            "best so far counts, not latest",
            {"minTrials": 3},
            [*PEERS, trial(9, RUNNING, [0.5, 3.0, 3.0])],
            [],
        ),
        ("too few peers", {"minTrials": 4}, [*PEERS, trial(9, RUNNING, [5, 4])], []),
        ("warm-up", {"minTrials": 3, "startStep": 3}, [*PEERS, trial(9, RUNNING, [5, 4])], []),
        (
            "warm-up over",
            {"minTrials": 3, "startStep": 2},
            [*PEERS, trial(9, RUNNING, [5, 4])],
            [9],
        ),
        (
            "finished trials are never stopped",
            {"minTrials": 2},
            [
                *PEERS,
                trial(9, PRUNED, [5, 4]),
                trial(8, COMPLETE, [9, 9, 9]),
                trial(7, FAILED, [9, 9, 9]),
            ],
            [],
        ),
        ("no reports, no verdict", {"minTrials": 1}, [*PEERS, trial(9, RUNNING, [])], []),
        (
            "peers that never reached the check step do not count",
            {"minTrials": 3},
            [*PEERS[:2], trial(5, PRUNED, [0.1]), trial(9, RUNNING, [5, 4])],
            [],
        ),
        (
            "failed peers do not count",
            {"minTrials": 3},
            [*PEERS[:2], trial(5, FAILED, [0.1, 0.1, 0.1]), trial(9, RUNNING, [5, 4])],
            [],
        ),
        (
            "pruned peers that got there count",
            {"minTrials": 3},
            [*PEERS[:2], trial(5, PRUNED, [0.1, 0.1]), trial(9, RUNNING, [5, 4])],
            [9],
        ),
        # Running peers are evidence too: the worse of two running trials goes.
        (
            "running peers count",
            {"minTrials": 1},
            [trial(1, RUNNING, [1.0, 1.0]), trial(2, RUNNING, [2.0, 2.0])],
            [2],
        ),
    ],
)
def test_decisions(
    case: str, rule_settings: dict[str, object], trials: list[TrialRecord], expected: list[int]
) -> None:
    assert stopped(rule_settings, *trials) == expected, case


def test_interval_judges_at_the_latest_grid_step() -> None:
    # Peers are good early and bad late; the running trial the other way round. With
    # startStep 1 and interval 3 the trial at step 3 is judged at step 1 where it is worse.
    peers = [trial(i, COMPLETE, [0.0, 9.0, 9.0, 9.0]) for i in range(3)]
    runner = trial(9, RUNNING, [5.0, 5.0, 5.0])
    assert stopped({"minTrials": 3, "startStep": 1, "interval": 3}, *peers, runner) == [9]
    # At step 2 peers' best is still 0.0; judged every step it is stopped there too …
    assert stopped({"minTrials": 3, "startStep": 1, "interval": 1}, *peers, runner) == [9]
    # … and a grid that starts at step 2 with interval 5 has no check step before step 7.
    assert stopped({"minTrials": 3, "startStep": 2, "interval": 5}, *peers, runner) == [9]
    assert stopped({"minTrials": 3, "startStep": 4, "interval": 5}, *peers, runner) == []


def test_maximized_metric_is_compared_as_a_loss() -> None:
    peers = [trial(i, COMPLETE, [0.5 + 0.1 * i, 0.6 + 0.1 * i]) for i in range(3)]  # accuracy
    low, high = trial(8, RUNNING, [0.2, 0.3]), trial(9, RUNNING, [0.9, 0.95])
    assert stopped({"minTrials": 3}, *peers, low, high, direction=Direction.MAXIMIZE) == [8]
    assert stopped({"minTrials": 3}, *peers, low, high, direction=Direction.MINIMIZE) == [9]


def test_reason_names_the_rule_and_the_cutoff() -> None:
    rule = create("median", {"minTrials": 3})
    assert rule is not None
    (decision,) = rule.decide(history(*PEERS, trial(9, RUNNING, [5, 4])))
    assert decision.pruned
    assert decision.reason.startswith("median: best loss 4 by step 2")
    assert "3 trials at step 2" in decision.reason


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"startStep": -1}, "startStep"),
        ({"minTrials": 0}, "minTrials"),
        ({"interval": 0}, "interval"),
        ({"percentile": 50}, "percentile"),
    ],
)
def test_bad_settings_name_the_field(bad: dict[str, object], field: str) -> None:
    with pytest.raises(RuleSettingsError, match=f"spec.earlyStopping.settings.{field}"):
        create("median", bad)


def test_registered() -> None:
    assert {"median", "percentile", "threshold"} <= set(RULES)


curves = st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=6)
states = st.sampled_from([RUNNING, COMPLETE, PRUNED, FAILED])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(states, curves, st.integers(0, 3)), min_size=1, max_size=8),
    st.integers(0, 3),
    st.integers(1, 3),
    st.integers(1, 3),
)
def test_invariants(
    spec: list[tuple[TrialState, list[float], int]], start: int, min_trials: int, interval: int
) -> None:
    trials = [trial(i, state, curve, first) for i, (state, curve, first) in enumerate(spec)]
    rule = create("median", {"startStep": start, "minTrials": min_trials, "interval": interval})
    assert rule is not None
    h = history(*trials)
    decisions = rule.decide(h)
    indexes = [d.index for d in decisions]
    assert len(indexes) == len(set(indexes))
    running = {t.index for t in trials if t.state is RUNNING}
    assert set(indexes) <= running  # never a finished trial
    assert [d.index for d in rule.decide(h)] == indexes  # same history, same verdicts
    # Nothing is stopped before its warm-up is over.
    for t in trials:
        if t.index in indexes:
            assert max(s for s, _ in h.intermediate_losses(t)) >= start
    # A running trial at least as good as every peer at every step survives.
    champion = trial(99, RUNNING, [-100.0] * 6, 0)
    assert 99 not in {d.index for d in rule.decide(history(*trials, champion))}
