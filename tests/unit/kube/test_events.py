"""The Events the operator posts: reason, type and a bounded message, on plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime

from kubetune.api.events import EventReason, EventType
from kubetune.kube.events import EVENT_MESSAGE_LIMIT, event_body

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
STUDY = {"name": "s", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"}


def test_an_event_names_its_study_reason_and_type() -> None:
    event = event_body(
        STUDY, "TuningStudy", "kubetune.dev/v1alpha1", EventReason.STARTED, "go", NOW
    )
    assert (event["reason"], event["type"], event["message"]) == ("Started", "Normal", "go")
    assert event["involvedObject"]["uid"] == "u-1"
    assert event["metadata"]["namespace"] == "ns"
    assert event["metadata"]["name"].startswith("s.20260101120000")


def test_reasons_that_need_a_person_are_warnings() -> None:
    warnings = {r for r in EventReason if r.event_type is EventType.WARNING}
    assert warnings == {
        EventReason.INVALID_SPEC,
        EventReason.STUDY_FAILED,
        EventReason.CHECKPOINT_CLAIM_MISSING,
        EventReason.WARM_START_UNAVAILABLE,
        EventReason.TRIAL_DELETED,
    }


def test_a_long_message_is_cut() -> None:
    long = "x" * (EVENT_MESSAGE_LIMIT * 3)
    event = event_body(STUDY, "TuningStudy", "v", EventReason.INVALID_SPEC, long, NOW)
    assert len(event["message"]) == EVENT_MESSAGE_LIMIT
    assert event["type"] == "Warning"
