"""Fuzzed manifests and a hostile trial against the real API server and operator.

Every fuzzed study is either refused at apply time with the schema's words naming a field,
or accepted and then either reconciled or marked ``InvalidSpec`` with a message naming a
field; meanwhile an ordinary study in the same namespace runs to Succeeded, and the
operator's log holds no traceback. Fuzzed studies are created suspended, so what is fuzzed
is the schema and the operator, not the test cluster's capacity to run trial processes.

A hostile trial (``tests/hostile/hostile_trial.py``: 10 MB lines, thousands of metrics,
NaN, wrong types, a report every few microseconds) is scored by its real loss, its Trial
stays under ``MAX_TRIAL_STATUS_BYTES``, and the operator goes on with the ordinary study.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubetune.api.conditions import StudyReason
from kubetune.api.trial import MAX_TRIAL_METRICS, MAX_TRIAL_STATUS_BYTES
from tests.cluster.wait import until
from tests.fuzzing.manifests import manifests, plausible_manifests
from tests.hostile import hostile_trial
from tests.integration.operator_fixtures import (
    GROUP,
    VERSION,
    OperatorProcess,
    create_study,
    get_study,
    list_trials,
    study_manifest,
    wait_for_phase,
)

pytestmark = pytest.mark.integration

FUZZED_STUDIES = 30
"""Manifests applied per run: enough to cross every kind of mutation, few enough to keep
the test under a minute."""

_names = (f"fuzz-{i}" for i in itertools.count())


def _encodable(manifest: dict[str, Any]) -> bool:
    """NaN and infinity cannot be written as JSON: kubectl refuses them before the API server
    sees them (the offline fuzzer covers them in ``kubetune validate``)."""
    try:
        json.dumps(manifest, allow_nan=False)
    except ValueError:
        return False
    return True


def _names_a_field(message: str) -> bool:
    return any(field in message for field in ("spec", "metadata", "ObjectMeta"))


def _apply_or_refusal(
    custom: client.CustomObjectsApi, namespace: str, manifest: dict[str, Any]
) -> str | None:
    """None when the API server took the study, else its refusal."""
    try:
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "tuningstudies", manifest, field_validation="Strict"
        )
    except ApiException as error:
        assert error.status in (400, 422), error
        return str(json.loads(error.body).get("message", error.body))
    return None


def _conditions(study: dict[str, Any], reason: str) -> list[dict[str, Any]]:
    return [
        c for c in (study.get("status") or {}).get("conditions") or [] if c.get("reason") == reason
    ]


def _reconciled(custom: client.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    def settled(study: dict[str, Any]) -> bool:
        status = study.get("status") or {}
        return status.get("observedGeneration") == study["metadata"]["generation"]

    return until(
        lambda: get_study(custom, namespace, name), settled, f"{name} reconciled", timeout=120
    )


def test_fuzzed_studies_are_refused_by_field_and_the_operator_keeps_reconciling(
    operator: Callable[..., OperatorProcess],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    handle = operator()
    create_study(custom, namespace, study_manifest("ordinary", max_trials=6, parallel=3))
    accepted: list[str] = []
    refusals: list[str] = []

    @settings(
        max_examples=FUZZED_STUDIES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(manifests(), plausible_manifests()))
    def apply(manifest: dict[str, Any]) -> None:
        assume(_encodable(manifest))
        name = next(_names)
        if isinstance(manifest.get("metadata"), dict):
            manifest["metadata"]["name"] = name
        if isinstance(manifest.get("spec"), dict):
            manifest["spec"]["suspend"] = True
        refusal = _apply_or_refusal(custom, namespace, manifest)
        if refusal is None:
            accepted.append(name)
        else:
            assert _names_a_field(refusal), refusal
            refusals.append(refusal)

    apply()
    print(f"{len(accepted)} accepted, {len(refusals)} refused at apply time")
    for name in accepted:
        study = _reconciled(custom, namespace, name)
        for invalid in _conditions(study, StudyReason.INVALID_SPEC):
            assert _names_a_field(invalid["message"]), invalid
    ordinary = wait_for_phase(custom, namespace, "ordinary", timeout=180)
    assert ordinary["status"]["phase"] == "Succeeded", ordinary["status"]
    assert "Traceback" not in handle.log()


def test_a_hostile_trial_is_bounded_and_the_operator_is_unaffected(
    operator: Callable[..., OperatorProcess],
    custom: client.CustomObjectsApi,
    namespace: str,
) -> None:
    handle = operator()
    hostile = study_manifest("hostile", max_trials=1, parallel=1)
    container = hostile["spec"]["trialTemplate"]["job"]["template"]["spec"]["containers"][0]
    container["command"] = ["kubetune-runner", "--", sys.executable, hostile_trial.__file__]
    create_study(custom, namespace, hostile)
    create_study(custom, namespace, study_manifest("ordinary", max_trials=4, parallel=2))
    for name in ("hostile", "ordinary"):
        study = wait_for_phase(custom, namespace, name, timeout=240)
        assert study["status"]["phase"] == "Succeeded", study["status"]
    trial = list_trials(custom, namespace, "hostile")[0]
    status = trial["status"]
    assert math.isclose(status["value"], hostile_trial.LOSS)
    assert len(status["values"]) <= MAX_TRIAL_METRICS
    assert all(len(p["values"]) <= MAX_TRIAL_METRICS for p in status["intermediate"])
    size = len(json.dumps(trial))
    print(f"hostile Trial: {size} bytes, {len(status['values'])} metrics")
    assert size < MAX_TRIAL_STATUS_BYTES
    assert "Traceback" not in handle.log()
