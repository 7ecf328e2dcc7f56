"""Hyperband: bracket layout and placement, per-bracket rungs, runs that never stall."""

from __future__ import annotations

import collections

import pytest
from test_asha import LOSS, SPACE, simulate, synthetic_loss, trial

from kubetune.algorithms import SettingsError, create, parse_settings
from kubetune.algorithms._hyperband import Hyperband
from kubetune.history import History, TrialState

RUNNING, COMPLETE = TrialState.RUNNING, TrialState.COMPLETE


def hyperband(**extra: object) -> Hyperband:
    suggester = create("hyperband", SPACE, {"minResource": 1, "maxResource": 81, **extra}, 3)
    assert isinstance(suggester, Hyperband)
    return suggester


def test_brackets_follow_li_et_al() -> None:
    h = hyperband()
    assert [b.rungs for b in h.brackets] == [
        (1.0, 3.0, 9.0, 27.0),
        (3.0, 9.0, 27.0),
        (9.0, 27.0),
        (27.0,),
        (),  # the safe bracket: every trial runs to the end
    ]
    # n_s = ceil((s_max + 1) / (s + 1) * η^s) trials per round for the bracket with s halvings.
    assert collections.Counter(h.schedule) == {0: 81, 1: 34, 2: 15, 3: 8, 4: 5}


def test_placement_is_by_index_and_spread_evenly() -> None:
    h, again = hyperband(), hyperband()
    assert [h.bracket_of(i) for i in range(500)] == [again.bracket_of(i) for i in range(500)]
    # Every bracket appears within the first 20 trials; no bracket waits for another.
    assert set(h.schedule[:20]) == {0, 1, 2, 3, 4}


def test_fewer_brackets_on_request() -> None:
    assert [b.rungs[0] for b in hyperband(brackets=2).brackets] == [1.0, 3.0]
    with pytest.raises(SettingsError, match="brackets"):
        parse_settings("hyperband", {"minResource": 1, "maxResource": 81, "brackets": 0})


def test_a_resource_that_is_not_a_power_of_eta() -> None:
    h = create("hyperband", SPACE, {"minResource": 2, "maxResource": 100}, 0)
    assert isinstance(h, Hyperband)
    assert [b.rungs for b in h.brackets] == [
        (2.0, 6.0, 18.0, 54.0),
        (6.0, 18.0, 54.0),
        (18.0, 54.0),
        (54.0,),
    ]


def indexes_in(h: Hyperband, bracket: int, count: int) -> list[int]:
    return [i for i in range(1000) if h.bracket_of(i) == bracket][:count]


def test_each_bracket_judges_at_its_own_rungs_against_its_own_trials() -> None:
    h = hyperband()
    zero, one = indexes_in(h, 0, 4), indexes_in(h, 1, 3)
    trials = [
        # Bracket 0 has great trials at rung 1; they must not count against bracket 1.
        *[trial(i, COMPLETE, {1: 0.0, 3: 0.0, 81: 0.0}) for i in zero[:3]],
        trial(zero[3], RUNNING, {1: 5.0}),  # bracket 0: judged at rung 1 → stopped
        trial(one[0], RUNNING, {1: 5.0, 2: 5.0}),  # bracket 1: no rung before 3 → continues
        trial(one[1], RUNNING, {3: 5.0}),  # bracket 1, rung 3: two recorded, worse → stopped
        trial(one[2], RUNNING, {3: 4.0}),
    ]
    assert sorted(d.index for d in h.stops(History(tuple(trials), LOSS))) == sorted(
        [zero[3], one[1]]
    )


def test_the_safe_bracket_never_stops_anything() -> None:
    h = hyperband()
    safe = indexes_in(h, 4, 3)
    trials = [trial(safe[0], COMPLETE, {27: 0.0, 81: 0.0}), trial(safe[1], RUNNING, {27: 99.0})]
    assert h.stops(History(tuple(trials), LOSS)) == []


@pytest.mark.parametrize("workers", [1, 3, 40])
def test_runs_never_stall_whatever_the_parallelism(workers: int) -> None:
    h = create("hyperband", SPACE, {"minResource": 1, "maxResource": 9}, 5)
    result = simulate(h, synthetic_loss, workers=workers, max_trials=45)
    trials = result.history.trials
    assert len(trials) == 45 and all(t.state.is_finished() for t in trials)
    assert isinstance(h, Hyperband)
    assert {h.bracket_of(t.index) for t in trials} == {0, 1, 2}
    # The safe bracket ran every one of its trials to the end.
    assert all(t.state is COMPLETE for t in trials if h.bracket_of(t.index) == 2)
    assert simulate(h, synthetic_loss, workers=workers, max_trials=45).history == result.history
