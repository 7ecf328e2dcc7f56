"""The summary and the study record: best trial, Pareto front, ranking, all pure."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.record import RecordedTrial, study_record
from kubetune.summary import pareto_front, summarize

P = TrialPhase


def spec(*objectives: tuple[str, str]) -> StudySpec:
    listed = [{"metric": m, "direction": d} for m, d in objectives]
    base: dict[str, Any] = {
        "parameters": [
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "kind", "type": "categorical", "choices": ["a", "b"]},
        ],
        "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
    }
    if len(listed) == 1:
        base["objective"] = listed[0]
    else:
        base["objectives"] = listed
    return StudySpec.model_validate(base)


def trial(index: int, phase: TrialPhase = P.SUCCEEDED, **values: float) -> RecordedTrial:
    return RecordedTrial(index, {"kind": "a", "x": index / 10}, phase, values=values)


def test_the_earliest_of_equally_good_trials_is_best_and_nan_never_is() -> None:
    trials = [trial(2, acc=math.nan), trial(1, acc=0.9), trial(0, acc=0.9), trial(3, acc=0.5)]
    summary = summarize(spec(("acc", "maximize")), trials)
    assert summary.best_index == 0
    assert summary.has_result and summary.pareto_indices == ()


def test_only_succeeded_trials_count() -> None:
    trials = [trial(0, P.FAILED, acc=1.0), trial(1, P.PRUNED, acc=2.0), trial(2, P.RUNNING)]
    summary = summarize(spec(("acc", "maximize")), trials)
    assert summary.best_index is None and not summary.has_result
    assert (summary.total, summary.finished, summary.active) == (3, 2, 1)


def test_several_objectives_have_a_front_and_no_single_best() -> None:
    trials = [trial(0, a=1, b=3), trial(1, a=2, b=2), trial(2, a=3, b=3), trial(3, a=3, b=1)]
    summary = summarize(spec(("a", "minimize"), ("b", "minimize")), trials)
    assert summary.best_index is None
    assert summary.pareto_indices == (0, 1, 3)
    assert summary.has_result


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=20))
def test_front_members_are_undominated_and_dominate_everyone_else(
    points: list[tuple[int, int]],
) -> None:
    # At most 20 points: the front is never thinned (MAX_PARETO_FRONT).
    front = set(pareto_front([((float(a), float(b)), i) for i, (a, b) in enumerate(points)]))

    def beats(q: tuple[int, int], p: tuple[int, int]) -> bool:
        return q[0] <= p[0] and q[1] <= p[1] and (q[0] < p[0] or q[1] < p[1])

    for i, p in enumerate(points):
        if i in front:
            assert not any(beats(q, p) for q in points)
        else:
            assert any(beats(points[j], p) for j in front)


def test_a_record_ranks_best_first_and_lists_parameters_in_spec_order() -> None:
    trials = [trial(1, P.FAILED), trial(0, acc=0.5), trial(2, acc=0.7), trial(3, acc=math.nan)]
    record = study_record("s", spec(("acc", "maximize")), trials, source="test")
    assert [t.index for t in record.trials] == [0, 1, 2, 3]
    assert [t.index for t in record.ranked()] == [2, 0, 1, 3]
    assert record.best is not None and record.best.index == 2
    assert all(list(t.params) == ["x", "kind"] for t in record.trials)
    assert record.pareto_front == []


@pytest.mark.parametrize("direction, best", [("minimize", 0), ("maximize", 1)])
def test_ranking_follows_the_direction(direction: str, best: int) -> None:
    record = study_record("s", spec(("m", direction)), [trial(0, m=1.0), trial(1, m=2.0)], "t")
    assert record.ranked()[0].index == best == record.summary.best_index
