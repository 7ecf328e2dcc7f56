"""A hostile trial cannot grow what it reports past the documented bounds.

The bounds: ``MAX_METRICS`` names per trial (objectives always kept), names of at most
``MAX_METRIC_NAME_LENGTH`` characters, ``MAX_INTERMEDIATE_POINTS`` points; together they keep
a Trial's status under ``kubetune.api.trial.MAX_TRIAL_STATUS_BYTES`` whatever the program
does. ``tests/unit/local/test_hostile_local.py`` and
``tests/integration/test_hostile_trial_cluster.py`` run the program itself.
"""

from __future__ import annotations

import json
import random

import pytest

from kubetune.api import trial as trial_api
from kubetune.lifecycle import MAX_MESSAGE_CHARS
from kubetune_runner._bounded import BoundedSeries
from kubetune_runner._env import Objective
from kubetune_runner._values import (
    MAX_METRIC_NAME_LENGTH,
    MAX_METRICS,
    MetricNames,
    check_metrics,
)


def test_the_runner_and_the_crd_agree_on_the_metric_bound() -> None:
    assert 2 * MAX_METRICS == trial_api.MAX_TRIAL_METRICS


def test_names_past_the_bound_are_dropped_but_objectives_always_kept() -> None:
    names = MetricNames(["loss"])
    kept = names.admit({f"m{i}": float(i) for i in range(1000)})
    assert len(kept) == MAX_METRICS - 1
    assert names.admit({"loss": 1.0, "m0": 2.0, "m999": 3.0}) == {"loss": 1.0, "m0": 2.0}
    assert names.dropped == 1000 - (MAX_METRICS - 1) + 1


def test_a_name_longer_than_a_trial_holds_is_refused_at_report_and_dropped_when_parsed() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_METRIC_NAME_LENGTH}"):
        check_metrics({"x" * (MAX_METRIC_NAME_LENGTH + 1): 1.0})
    assert MetricNames().admit({"x" * (MAX_METRIC_NAME_LENGTH + 1): 1.0}) == {}


def test_the_worst_status_a_program_can_cause_fits_the_documented_bound() -> None:
    objectives = [Objective("o" * MAX_METRIC_NAME_LENGTH, "minimize")]
    processes = [MetricNames([o.metric for o in objectives]) for _ in ("wrapper", "program")]
    series = BoundedSeries(objectives)
    rng = random.Random(0)
    values: dict[str, float] = {}
    for step in range(5000):
        names = processes[step % 2]
        report = {
            f"{step % 2}{i:0{MAX_METRIC_NAME_LENGTH - 1}d}": rng.uniform(-1e300, 1e300)
            for i in range(40)
        }
        report[objectives[0].metric] = rng.uniform(-1e-300, 1e-300)
        admitted = names.admit(report)
        values.update(admitted)
        series.add(step * 1_000_000_007, {**values})
    status = {
        "phase": "Succeeded",
        "reason": "MetricsUndelivered",
        "message": "m" * MAX_MESSAGE_CHARS,
        "conditions": [
            {
                "type": "T" * 63,
                "status": "False",
                "reason": "R" * 63,
                "message": "c" * 1024,
                "lastTransitionTime": "2026-12-01T00:00:00Z",
            }
        ]
        * 16,
        "values": values,
        "nonFiniteValues": dict.fromkeys(values, "-inf"),
        "value": 1e-300,
        "intermediate": series.to_status(),
        "lastStep": 10**18,
        "exitCode": 255,
        "startTime": "2026-12-01T00:00:00Z",
        "completionTime": "2026-12-01T00:00:00Z",
        "gpuSeconds": 1e300,
        "retries": 10**6,
    }
    assert len(values) == trial_api.MAX_TRIAL_METRICS - 1  # one objective shared
    assert len(status["intermediate"]) <= trial_api.MAX_INTERMEDIATE_POINTS
    size = len(json.dumps(status))
    assert size < trial_api.MAX_TRIAL_STATUS_BYTES, size
