"""A study's status stays bounded by its spec, however many trials it runs or metrics they report.

etcd refuses objects over 1.5 MiB, and Katib's Suggestion object grew until it did. The
TuningStudy status holds counters, conditions, the best trial and at most
``MAX_PARETO_FRONT`` front members, each with the spec's parameters and named metrics only.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

from kubetune.api.study import MAX_PARETO_FRONT, StudySpec, StudyStatus
from kubetune.api.trial import TrialPhase
from kubetune.engine import Planner, TrialSnapshot
from kubetune.kube import study_status

NOW = datetime(2026, 1, 1, tzinfo=UTC)
STUDY_STATUS_BOUND_BYTES = 16 * 1024
"""What this spec's status may take (JSON) at any trial count; docs/benchmarks.md quotes it."""
PARAMETERS = 8
REPORTED_METRICS = 40
"""Far more metrics than the spec names: a chatty (or hostile) trial."""


def spec(objectives: int) -> StudySpec:
    goals = [{"metric": f"m{i}", "direction": "minimize"} for i in range(objectives)]
    return StudySpec.model_validate(
        {
            **({"objective": goals[0]} if objectives == 1 else {"objectives": goals}),
            "metrics": ["latency_ms"],
            "parameters": [
                {"name": f"p{i}", "type": "float", "low": 0, "high": 1} for i in range(PARAMETERS)
            ],
            "budget": {"maxTrials": 20_000, "parallelTrials": 100},
            "trialTemplate": {
                "job": {"template": {"spec": {"containers": [{"name": "t", "command": ["r"]}]}}}
            },
        }
    )


def snapshots(count: int, objectives: int) -> dict[int, TrialSnapshot]:
    rng = random.Random(7)
    result = {}
    for i in range(count):
        finished = i < count - 100
        values = {f"extra_{k}": rng.random() for k in range(REPORTED_METRICS)} if finished else {}
        if finished:
            # A trade-off curve: many trials on (or near) the front of several objectives.
            x = rng.random()
            values |= {
                f"m{k}": (x if k == 0 else 1 - x) + rng.random() / 100 for k in range(objectives)
            }
            values["latency_ms"] = rng.random()
        phase = TrialPhase.SUCCEEDED if finished else TrialPhase.RUNNING
        params = {f"p{k}": rng.random() for k in range(PARAMETERS)}
        result[i] = TrialSnapshot(i, params, phase, values)
    return result


def status_of(count: int, objectives: int) -> StudyStatus:
    study_spec = spec(objectives)
    trials = snapshots(count, objectives)
    summary = Planner(study_spec, "big").summarize(list(trials.values()))
    view = study_status.StudyView("big", 1, study_spec, summary, trials, None, NOW, 1.0e6)
    return study_status.desired(view, StudyStatus(), NOW)


def size(status: StudyStatus) -> int:
    return len(json.dumps(study_status.to_patch_body(status)))


def test_a_20000_trial_multi_objective_study_status_stays_under_its_bound() -> None:
    status = status_of(20_000, objectives=3)

    assert status.trials.total == 20_000
    assert len(status.pareto_front) == MAX_PARETO_FRONT
    assert (status.pareto_front_size or 0) > MAX_PARETO_FRONT  # the front itself is bigger
    assert size(status) <= STUDY_STATUS_BOUND_BYTES


def test_the_status_does_not_grow_with_the_trial_count() -> None:
    small, big = status_of(2_000, objectives=3), status_of(20_000, objectives=3)

    assert len(small.pareto_front) == len(big.pareto_front) == MAX_PARETO_FRONT
    assert abs(size(big) - size(small)) < 200  # digits of counters and values only


def test_the_best_trial_shows_the_named_metrics_not_everything_it_reported() -> None:
    status = status_of(20_000, objectives=1)

    assert status.best_trial is not None
    assert set(status.best_trial.values) == {"m0", "latency_ms"}
    assert size(status) <= STUDY_STATUS_BOUND_BYTES
