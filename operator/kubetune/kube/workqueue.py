"""A work queue of study keys: deduplicated, one worker per key, delayed re-adds.

The same contract as client-go's workqueue, which is what makes level-triggered
reconciliation cheap and safe: a burst of events for one study becomes one reconcile; a
study is never reconciled by two workers at once (an event during its reconcile marks it
dirty, and it runs again right after); ``add_after`` schedules the next look at a
deadline (a stop grace period ending, a timeout) without a thread per study.

``add(key, urgent=True)`` is a priority lane: the key goes to the urgent lane (or moves
there), which is served before the normal one. The controller uses it for studies with a slot
just freed, so that launching a successor never waits behind reconciles that only have
statuses to write. Each lane is first-in first-out: among freed slots, the one freed first is
served first (a last-in first-out lane made the studies whose trials ended first in a burst
wait for the whole burst).

``on_wait`` is told how long each key waited in the queue, and in which lane, when a worker
takes it: the operator's ``kubetune_queue_wait_seconds``.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from enum import StrEnum
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class Lane(StrEnum):
    URGENT = "urgent"
    """A trial slot was freed: served first."""
    NORMAL = "normal"


WaitObserver = Callable[[float, Lane], None]
"""Told the seconds a key waited before a worker took it, and in which lane."""


def _ignore(seconds: float, lane: Lane) -> None:
    pass


class WorkQueue(Generic[Key]):
    def __init__(self, on_wait: WaitObserver = _ignore) -> None:
        self._cond = threading.Condition()
        self._urgent: deque[Key] = deque()
        self._queue: deque[Key] = deque()
        self._queued: dict[Key, float] = {}  # when each queued key was queued
        self._on_wait = on_wait
        self._processing: set[Key] = set()
        self._dirty: dict[Key, bool] = {}  # added while processing: urgent?
        self._delayed: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}  # earliest pending deadline per key
        self._counter = 0
        self._shut_down = False

    def add(self, key: Key, urgent: bool = False) -> None:
        with self._cond:
            self._add_locked(key, urgent)

    def _add_locked(self, key: Key, urgent: bool = False) -> None:
        if key in self._processing:
            self._dirty[key] = self._dirty.get(key, False) or urgent
        elif key not in self._queued:
            self._queued[key] = time.monotonic()
            (self._urgent if urgent else self._queue).append(key)
            self._cond.notify()
        elif urgent and key in self._queue:
            self._queue.remove(key)
            self._urgent.append(key)
            self._queued[key] = time.monotonic()  # its urgent wait starts now

    def add_after(self, key: Key, delay_seconds: float) -> None:
        if delay_seconds <= 0:
            self.add(key)
            return
        deadline = time.monotonic() + delay_seconds
        with self._cond:
            if self._due.get(key, float("inf")) <= deadline:
                return  # an earlier look is already scheduled
            self._due[key] = deadline
            self._counter += 1
            heapq.heappush(self._delayed, (deadline, self._counter, key))
            self._cond.notify()

    def get(self) -> Key:
        """The next key to work on; blocks. Call ``done(key)`` afterwards."""
        with self._cond:
            while True:
                if self._shut_down:
                    raise ShutDown
                self._promote_due()
                lane = self._urgent or self._queue
                if lane:
                    key = lane.popleft()
                    waited = time.monotonic() - self._queued.pop(key)
                    self._processing.add(key)
                    break
                timeout = self._delayed[0][0] - time.monotonic() if self._delayed else None
                self._cond.wait(timeout)
        self._on_wait(waited, Lane.URGENT if lane is self._urgent else Lane.NORMAL)
        return key

    def done(self, key: Key) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._add_locked(key, self._dirty.pop(key))

    def _promote_due(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            deadline, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == deadline:
                del self._due[key]
                self._add_locked(key)

    def __len__(self) -> int:
        with self._cond:
            return len(self._urgent) + len(self._queue)

    def shut_down(self) -> None:
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()
