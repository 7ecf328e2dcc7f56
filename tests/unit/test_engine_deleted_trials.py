"""A trial whose Trial was deleted by hand, as the engine sees it: gone from ``trials``, its
index still counted in ``issued``. New trials are numbered past it, so neither the index nor
the parameters keyed on it come back; its place in ``maxTrials`` is free again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubetune.algorithms import NoSettings
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner
from tests.unit.test_engine import _RecordingSuggester, spec, trial

P = TrialPhase


def test_new_trials_are_numbered_from_the_issued_indices() -> None:
    planner = Planner(spec(), "s")
    decision = planner.decide([trial(0, P.SUCCEEDED, 0.1)], issued=3)
    assert [t.index for t in decision.launch] == [3, 4]


def test_the_parameters_of_a_deleted_trial_are_not_drawn_again() -> None:
    """random keys each trial's draw on its index: reusing the index reused the point."""
    planner = Planner(spec(), "s")
    (first,) = planner.decide([trial(0, P.RUNNING)]).launch[:1]  # becomes trial 1
    assert first.index == 1
    # trial 1 ran and its Trial was deleted: the next trial is 2, with another point
    (after,) = planner.decide([trial(0, P.RUNNING)], issued=2).launch[:1]
    assert after.index == 2 and after.params != first.params


def test_a_deleted_initial_trial_is_not_evaluated_again() -> None:
    planner = Planner(spec(initialTrials=[{"x": 0.1}, {"x": 0.2}, {"x": 0.3}]), "s")
    decision = planner.decide([trial(1, P.RUNNING)], issued=2)
    assert [(t.index, t.params) for t in decision.launch] == [(2, {"x": 0.3})]


def test_a_deleted_trial_frees_its_place_in_max_trials() -> None:
    planner = Planner(spec(), "s")  # maxTrials 4
    kept = [trial(i, P.SUCCEEDED, 0.1) for i in (0, 2, 3)]  # trial 1 deleted
    decision = planner.decide(kept, issued=4)
    assert [t.index for t in decision.launch] == [4] and decision.ending is None
    done = planner.decide([*kept, trial(4, P.SUCCEEDED, 0.1)], issued=5)
    assert decision.launch and done.ending is not None and done.launch == []


@given(
    deleted=st.sets(st.integers(0, 11), max_size=12),
    issued=st.integers(0, 12),
    parallel=st.integers(1, 6),
)
def test_no_index_below_issued_is_given_and_suggestions_stay_keyed_on_theirs(
    deleted: set[int], issued: int, parallel: int
) -> None:
    planner = Planner(spec(budget={"maxTrials": 40, "parallelTrials": parallel}), "s")
    planner.suggester = _RecordingSuggester(planner.space, NoSettings(), 0)
    existing = [trial(i, P.SUCCEEDED, 0.1) for i in range(issued) if i not in deleted]
    launch = planner.decide(existing, issued=issued).launch
    assert [t.index for t in launch] == list(range(issued, issued + len(launch)))
    assert all(t.params == {"x": t.index / 100} for t in launch)
