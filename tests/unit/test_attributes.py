"""Trial attributes: their bounds, and their round trip from a suggestion back into the history.

The round trip is what population methods rely on after a restart: a suggester attaches
attributes, the engine hands them to the backend with the new trial, the backend stores them
on the Trial (cluster) or in trial.json (local), and the next history carries them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kubetune.algorithms import History, Suggester, Suggestion
from kubetune.api.attributes import (
    MAX_ATTRIBUTE_TEXT_LENGTH,
    MAX_ATTRIBUTES,
    InvalidAttributes,
    attribute_problems,
    check_attributes,
)
from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase, TrialSpec
from kubetune.engine import InvalidSuggestion, Planner, TrialSnapshot
from kubetune.kube import objects
from kubetune.kube.observe import _snapshot
from kubetune.space import SearchSpace

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
values = st.one_of(
    st.text(max_size=MAX_ATTRIBUTE_TEXT_LENGTH),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
)
valid = st.dictionaries(names, values, max_size=MAX_ATTRIBUTES)


@given(valid)
def test_every_map_within_the_bounds_is_accepted_unchanged(attributes: dict[str, Any]) -> None:
    assert attribute_problems(attributes) == []
    assert check_attributes(attributes) == attributes
    spec = TrialSpec(study="s", index=0, parameters={}, attributes=attributes)
    assert spec.attributes == attributes
    assert [type(v) for v in spec.attributes.values()] == [type(v) for v in attributes.values()]


@pytest.mark.parametrize(
    ("attributes", "words"),
    [
        ({f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)}, "17 attributes, more than the 16"),
        ({"checkpoint": "x" * (MAX_ATTRIBUTE_TEXT_LENGTH + 1)}, "'checkpoint': text longer"),
        ({"score": math.nan}, "'score': nan is not a finite number"),
        ({"score": math.inf}, "'score': inf is not a finite number"),
        ({"parents": [1, 2]}, "'parents': a value must be text, a number or true/false, not list"),
        ({"1st": 1}, "'1st': the key must start with a letter"),
        ({"a b": 1}, "'a b': the key must start"),
        ({"k" * 64: 1}, "longer than 63 characters"),
        ({"": 1}, "'': the key must start"),
    ],
)
def test_each_broken_bound_is_named(attributes: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidAttributes, match=words):
        check_attributes(attributes)
    with pytest.raises(ValidationError, match=words):
        TrialSpec(study="s", index=0, parameters={}, attributes=attributes)


def test_every_problem_is_listed_not_only_the_first() -> None:
    problems = attribute_problems({"ok": 1, "bad key": 2, "nan": math.nan})
    assert len(problems) == 2


class Lineage(Suggester):
    """Each new trial's generation is one more than the number of trials it has seen, and its
    parent is the latest trial; every history it was given is kept for the test to inspect."""

    def __init__(self, space: SearchSpace, attributes: Any = None) -> None:
        super().__init__(space, Suggester.Settings(), seed=0)
        self.seen: list[History] = []
        self.attributes = attributes

    def suggest(self, history: History, n: int) -> list[Suggestion]:
        self.seen.append(history)
        start = len(history.trials)
        return [
            Suggestion(
                {"x": (start + k) / 100},
                attributes=self.attributes or {"generation": start + k, "parent": f"t{start - 1}"},
            )
            for k in range(n)
        ]


def spec() -> StudySpec:
    return StudySpec.model_validate(
        {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "budget": {"maxTrials": 6, "parallelTrials": 2},
            "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        }
    )


def planner_with(suggester_attributes: Any = None) -> tuple[Planner, Lineage]:
    planner = Planner(spec(), "s")
    lineage = Lineage(planner.space, suggester_attributes)
    planner.suggester = lineage
    return planner, lineage


def test_attributes_go_out_with_new_trials_and_come_back_in_the_history() -> None:
    planner, lineage = planner_with()
    first = planner.decide([]).launch
    assert [t.attributes for t in first] == [
        {"generation": 0, "parent": "t-1"},
        {"generation": 1, "parent": "t-1"},
    ]
    observed = [
        TrialSnapshot(t.index, t.params, TrialPhase.SUCCEEDED, {"loss": 1.0}, attributes=a)
        for t in first
        for a in [t.attributes]
    ]
    planner.decide(observed)
    assert [dict(t.attributes) for t in lineage.seen[-1].trials] == [
        {"generation": 0, "parent": "t-1"},
        {"generation": 1, "parent": "t-1"},
    ]


def test_a_suggestion_outside_the_bounds_is_a_bug_in_the_algorithm() -> None:
    planner, _ = planner_with({"population": [1, 2, 3]})
    with pytest.raises(InvalidSuggestion, match=r"trial 0 .*'population'.*bug in the algorithm"):
        planner.decide([])


def test_attributes_survive_the_trial_object_and_come_back_in_the_cluster_snapshot() -> None:
    planner, lineage = planner_with()
    new = planner.decide([]).launch[0]
    body = objects.render_trial("s", "ns", "uid", new.index, new.params, new.budget, new.attributes)
    TrialSpec.model_validate(body["spec"])  # what the CRD's structural schema mirrors
    body["status"] = {"phase": "Succeeded", "values": {"loss": 0.5}}
    snapshot = _snapshot(body, TrialPhase.SUCCEEDED)
    assert snapshot.attributes == {"generation": 0, "parent": "t-1"}
    planner.decide([snapshot])
    assert dict(lineage.seen[-1].trials[0].attributes) == {"generation": 0, "parent": "t-1"}


def test_a_trial_without_attributes_renders_none() -> None:
    body = objects.render_trial("s", "ns", "uid", 0, {"x": 0.1}, None)
    assert "attributes" not in body["spec"]
    assert _snapshot(body, TrialPhase.PENDING).attributes == {}
