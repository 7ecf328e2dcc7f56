"""Which watch events put a study in the work queue's urgent lane: those that free a slot."""

from __future__ import annotations

from typing import Any

import pytest

from kubetune.kube.cache import Kind
from kubetune.kube.controller import frees_a_slot


def _pod(phase: str) -> dict[str, Any]:
    return {"metadata": {"name": "s-0-pod"}, "status": {"phase": phase}}


def _job(*conditions: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "s-0"},
        "status": {"conditions": [{"type": c, "status": "True"} for c in conditions]},
    }


@pytest.mark.parametrize(
    ("kind", "event", "obj", "urgent"),
    [
        (Kind.POD, "MODIFIED", _pod("Succeeded"), True),  # before the Job is marked
        (Kind.POD, "MODIFIED", _pod("Failed"), True),
        (Kind.POD, "MODIFIED", _pod("Running"), False),
        (Kind.POD, "DELETED", _pod("Succeeded"), False),  # the Job says what that means
        (Kind.JOB, "MODIFIED", _job("Complete"), True),
        (Kind.JOB, "MODIFIED", _job("FailureTarget"), True),
        (Kind.JOB, "MODIFIED", _job(), False),
        (Kind.JOB, "DELETED", _job(), True),
        (Kind.TRIAL, "MODIFIED", {"metadata": {"name": "s-0"}}, False),
    ],
)
def test_frees_a_slot(kind: Kind, event: str, obj: dict[str, Any], urgent: bool) -> None:
    assert frees_a_slot(kind, event, obj) is urgent
