"""Every algorithm finishes a study in which trials were deleted by hand.

A deleted trial leaves the history, while its index stays taken (``History.issued``). The
study is driven through ``Planner.decide`` the way a backend drives it; one running and one
finished trial are deleted on the way. Whatever the algorithm keeps — a grid to cover, rungs
to fill, a population to train — the study must still end, with ``maxTrials`` trials and no
index given twice: never a stuck study.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.algorithms import REGISTRY
from kubetune.api.study import StudySpec
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner, TrialSnapshot
from kubetune.history import IntermediateValue

MAX_TRIALS = 16
RESOURCE = {"name": "epochs", "min": 1, "max": 9}
SETTINGS: dict[str, dict[str, Any]] = {"pbt": {"populationSize": 4, "perturbationInterval": 3}}
DECISIONS = 400
"""More decisions than any algorithm needs for 16 trials one at a time; past it, it is stuck."""


def study(algorithm: str) -> StudySpec:
    capabilities = REGISTRY[algorithm].capabilities
    budget: dict[str, Any] = {"maxTrials": MAX_TRIALS, "parallelTrials": 3}
    if capabilities.needs_resource:
        budget["resource"] = RESOURCE
    parameters: list[dict[str, Any]] = [
        {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
        {"name": "y", "type": "int", "low": 0, "high": 4},
    ]
    if algorithm == "grid":
        parameters = [{"name": "y", "type": "int", "low": 0, "high": 19}]
    return StudySpec.model_validate(
        {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": parameters,
            "algorithm": {"name": algorithm, "settings": SETTINGS.get(algorithm, {})},
            "budget": budget,
            "seed": 7,
            "trialTemplate": {"job": {"template": {"spec": {"containers": [{"name": "t"}]}}}},
        }
    )


def finished(t: TrialSnapshot) -> TrialSnapshot:
    """The trial's end: a loss from its point, reported at every step of its budget."""
    loss = (float(t.params.get("x", 0.5)) - 0.3) ** 2 + int(t.params.get("y", 0)) / 10
    steps = int(t.budget or 1)
    curve = tuple(IntermediateValue(s, {"loss": loss + 1 / s}) for s in range(1, steps + 1))
    return TrialSnapshot(
        t.index, t.params, TrialPhase.SUCCEEDED, {"loss": loss}, curve, t.budget,
        attributes=t.attributes,
    )  # fmt: skip


@pytest.mark.parametrize("algorithm", sorted(REGISTRY))
def test_a_study_with_deleted_trials_still_ends(algorithm: str) -> None:
    planner = Planner(study(algorithm), "s")
    trials: dict[int, TrialSnapshot] = {}
    issued, given, deleted = 0, [], []
    for step in range(DECISIONS):
        decision = planner.decide(list(trials.values()), issued=issued)
        for stop in decision.stop:
            t = trials[stop.index]
            trials[t.index] = TrialSnapshot(
                t.index, t.params, TrialPhase.PRUNED, t.values, t.intermediate, t.budget,
                attributes=t.attributes,
            )  # fmt: skip
        for new in decision.launch:
            trials[new.index] = TrialSnapshot(
                new.index, new.params, TrialPhase.RUNNING, budget=new.budget,
                attributes=new.attributes,
            )  # fmt: skip
            given.append(new.index)
            issued = max(issued, new.index + 1)
        if decision.ending is not None:
            break
        running = sorted(i for i, t in trials.items() if t.phase is TrialPhase.RUNNING)
        if step == 2 and running:
            deleted.append(running[-1])  # a running trial, the highest index
            del trials[running[-1]]
            continue
        if step == 6:
            done = sorted(i for i, t in trials.items() if t.phase.is_finished())
            if done:
                deleted.append(done[0])  # a finished one
                del trials[done[0]]
                continue
        if running:
            trials[running[0]] = finished(trials[running[0]])
    else:
        pytest.fail(f"{algorithm}: no ending after {DECISIONS} decisions; trials {sorted(trials)}")
    assert len(deleted) == 2
    assert len(given) == len(set(given)), "an index was given twice"
    assert not set(deleted) & set(trials)
    if decision.ending.outcome == "BudgetExhausted":
        assert len(trials) == MAX_TRIALS
