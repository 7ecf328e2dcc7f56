"""The watch threads: every event reaches the cache in order, versions resume, 410 relists."""

from __future__ import annotations

import threading
from typing import Any

from kubetune.kube.cache import Kind
from kubetune.kube.watch import Watch


def event(kind: str, name: str, version: str) -> dict[str, Any]:
    return {"type": kind, "object": {"metadata": {"name": name, "resourceVersion": version}}}


EXPIRED = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired"}}


class FakeKube:
    """Answers each watch request with the next scripted list of events; records its version."""

    def __init__(self, scripts: list[list[dict[str, Any]]], stopped: threading.Event) -> None:
        self.scripts = scripts
        self.stopped = stopped
        self.started_at: list[str] = []

    def watch(self, path: str, selector: str | None, version: str, timeout: int):
        self.started_at.append(version)
        if not self.scripts:
            self.stopped.set()
            return
        yield from self.scripts.pop(0)


def run(scripts: list[list[dict[str, Any]]]) -> tuple[FakeKube, list[str], list[str]]:
    stopped = threading.Event()
    kube = FakeKube(scripts, stopped)
    seen: list[str] = []
    relists: list[str] = []

    def relist() -> str:
        relists.append("list")
        return "500"

    watch = Watch(
        kube,  # type: ignore[arg-type]
        Kind.TRIAL,
        "/apis/kubetune.dev/v1alpha1/trials",
        "kubetune.dev/study",
        "100",
        lambda kind, e: seen.append(f"{e['type']} {e['object']['metadata']['name']}"),
        relist,
        stopped,
        300,
    )
    watch.run()  # in this thread: returns once the scripts are spent
    return kube, seen, relists


def test_events_arrive_in_order_and_a_renewed_watch_resumes_from_the_last_version() -> None:
    kube, seen, relists = run(
        [
            [event("ADDED", "a", "101"), event("MODIFIED", "a", "102")],
            [event("BOOKMARK", "", "150"), event("DELETED", "a", "151")],
        ]
    )
    assert seen == ["ADDED a", "MODIFIED a", "DELETED a"]  # a bookmark is no object
    assert kube.started_at == ["100", "102", "151"]
    assert relists == []


def test_an_expired_version_lists_again_and_watches_from_the_list() -> None:
    kube, seen, relists = run([[event("ADDED", "a", "101"), EXPIRED], [event("ADDED", "b", "501")]])
    assert relists == ["list"]
    assert kube.started_at == ["100", "500", "501"]
    assert seen == ["ADDED a", "ADDED b"]
