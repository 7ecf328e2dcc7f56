"""FailedCreate Events: the latest per Job, one LIST per namespace per interval."""

from __future__ import annotations

from typing import Any

from kubetune.kube.client import ApiError
from kubetune.kube.job_events import FAILED_CREATE_SELECTOR, JobEvents, latest_messages


def event(uid: str, when: str, message: str) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Job", "uid": uid},
        "lastTimestamp": when,
        "message": message,
    }


class FakeKube:
    def __init__(self, items: list[dict[str, Any]], error: bool = False) -> None:
        self.items, self.error, self.calls = items, error, []

    def list(self, path: str, label_selector: str | None = None, field_selector: str | None = None):
        self.calls.append((path, field_selector))
        if self.error:
            raise ApiError(403, "Forbidden", "events is forbidden")
        return {"items": self.items}


def test_the_latest_event_of_each_job_wins() -> None:
    events = [
        event("a", "2026-01-01T00:00:02Z", "second"),
        event("a", "2026-01-01T00:00:01Z", "first"),
        event("b", "2026-01-01T00:00:00Z", "other"),
    ]
    assert latest_messages(events) == {"a": "second", "b": "other"}


def test_a_namespace_is_listed_once_per_interval_and_errors_read_as_nothing() -> None:
    kube = FakeKube([event("a", "2026-01-01T00:00:00Z", "exceeded quota")])
    reader = JobEvents(kube, interval_seconds=60)  # type: ignore[arg-type]
    assert reader.failed_creates("ns") == {"a": "exceeded quota"}
    assert reader.failed_creates("ns") == {"a": "exceeded quota"}
    assert kube.calls == [("/api/v1/namespaces/ns/events", FAILED_CREATE_SELECTOR)]
    assert JobEvents(FakeKube([], error=True), 60).failed_creates("ns") == {}  # type: ignore[arg-type]
