"""Operator SIGKILLed every few seconds during a 48-trial study with 6 parallel trials.

Invariants, checked against the trial programs' own record of what they ran and reported:
exactly maxTrials Trials with indices 0..N-1, no duplicate parameter set, every Succeeded
Trial's value equal to the last value its program reported, and no program run twice for
the same index. The operator is killed only after some progress since its last start
(waiting on a condition, never a fixed sleep), at varying moments.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client

from tests.chaos.ground_truth import assert_nothing_lost, progress, recorded_study
from tests.cluster.wait import until
from tests.integration.operator_fixtures import create_study

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

MAX_TRIALS = 48
PARALLEL = 6
KILLS = 10


def test_sigkilled_operator_loses_duplicates_and_reruns_nothing(
    operator, custom: client.CustomObjectsApi, namespace: str, tmp_path: Path
) -> None:
    truth = tmp_path / "truth"
    manifest = recorded_study("chaos", truth, max_trials=MAX_TRIALS, parallel=PARALLEL, seconds=1)
    handle = operator(leader_election=False)
    create_study(custom, namespace, manifest)
    kills = 0
    while kills < KILLS and progress(custom, namespace, "chaos")[0] != "Succeeded":
        before = progress(custom, namespace, "chaos")
        until(
            lambda: progress(custom, namespace, "chaos"),
            lambda now, before=before: now != before,
            "progress since the operator started",
            timeout=90,
        )
        time.sleep(kills % 4 * 0.5)  # a varying moment in the operator's life, not a wait
        handle.kill()
        kills += 1
        handle.start()

    trials = assert_nothing_lost(custom, namespace, "chaos", truth, MAX_TRIALS, timeout=240)
    assert kills >= 5, f"only {kills} kills: the study ended too soon to test anything"
    assert not [t for t in trials if t["status"].get("retries")], "a pod was lost"
