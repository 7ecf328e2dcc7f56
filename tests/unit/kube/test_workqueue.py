"""The work queue coalesces, serializes per key and schedules; the cache only moves forward."""

from __future__ import annotations

import threading
import time

from kubetune.kube.cache import Kind, ObjectCache
from kubetune.kube.workqueue import Lane, WorkQueue


def test_adds_while_queued_coalesce_into_one_item() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        queue.add("a")
    queue.add("b")
    assert len(queue) == 2


def test_a_key_added_while_processing_runs_again_after_done_never_concurrently() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = queue.get()
    queue.add("a")  # an event during the reconcile
    assert len(queue) == 0  # not handed to a second worker
    queue.done(key)
    assert queue.get() == "a"


def test_add_after_delivers_at_the_earliest_requested_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 30)
    queue.add_after("a", 0.05)
    started = time.monotonic()
    assert queue.get() == "a"
    assert time.monotonic() - started < 1
    queue.done("a")
    assert len(queue) == 0


def test_shut_down_releases_waiting_workers() -> None:
    queue: WorkQueue[str] = WorkQueue()
    finished = threading.Event()

    def worker() -> None:
        try:
            queue.get()
        except Exception:
            finished.set()

    thread = threading.Thread(target=worker)
    thread.start()
    queue.shut_down()
    thread.join(2)
    assert finished.is_set()


def _trial(name: str, version: str, study: str = "s") -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": "ns",
            "resourceVersion": version,
            "labels": {"kubetune.dev/study": study},
        }
    }


def test_cache_ignores_events_older_than_what_it_holds() -> None:
    cache = ObjectCache()
    assert cache.apply(Kind.TRIAL, "MODIFIED", _trial("s-0", "10")) == ("ns", "s")
    cache.apply(Kind.TRIAL, "MODIFIED", _trial("s-0", "9"))
    assert cache.get(Kind.TRIAL, ("ns", "s"))["s-0"]["metadata"]["resourceVersion"] == "10"
    cache.apply(Kind.TRIAL, "DELETED", _trial("s-0", "11"))
    assert cache.get(Kind.TRIAL, ("ns", "s")) == {}


def test_cache_relist_drops_objects_deleted_meanwhile_but_keeps_newer_ones() -> None:
    cache = ObjectCache()
    cache.apply(Kind.TRIAL, None, _trial("s-0", "5"))
    cache.apply(Kind.TRIAL, None, _trial("s-1", "30"))  # created after the LIST below
    cache.replace(Kind.TRIAL, [_trial("s-2", "7")], list_version=20, namespace="ns")
    assert sorted(cache.get(Kind.TRIAL, ("ns", "s"))) == ["s-1", "s-2"]


def test_objects_without_a_study_label_are_not_cached() -> None:
    cache = ObjectCache()
    assert cache.apply(Kind.POD, None, _trial("other", "1", study="")) is None


def test_urgent_keys_go_first_in_the_order_their_slots_were_freed() -> None:
    """Even one already queued moves ahead; among urgent keys the first freed is served
    first, so a burst of completions does not make its earliest ones wait longest."""
    queue: WorkQueue[str] = WorkQueue()
    for key in ("a", "b", "c"):
        queue.add(key)
    queue.add("c", urgent=True)
    queue.add("d", urgent=True)
    queue.add("d", urgent=True)  # already in the urgent lane: stays where it is
    assert [queue.get() for _ in range(4)] == ["c", "d", "a", "b"]


def test_each_wait_is_reported_with_its_lane() -> None:
    waits: list[tuple[float, Lane]] = []
    queue: WorkQueue[str] = WorkQueue(on_wait=lambda seconds, lane: waits.append((seconds, lane)))
    queue.add("a")
    queue.add("b", urgent=True)
    queue.get()
    queue.get()
    assert [lane for _, lane in waits] == [Lane.URGENT, Lane.NORMAL]
    assert all(seconds >= 0 for seconds, _ in waits)


def test_urgency_added_while_processing_is_kept_for_the_rerun() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = queue.get()
    queue.add("b")
    queue.add("a", urgent=True)
    queue.add("a")  # a later plain add does not take the urgency back
    queue.done(key)
    assert queue.get() == "a"
