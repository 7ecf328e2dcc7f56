"""A work queue of study keys: deduplicated, one worker per key, delayed re-adds.

The same contract as client-go's workqueue, which is what makes level-triggered
reconciliation cheap and safe: a burst of events for one study becomes one reconcile; a
study is never reconciled by two workers at once (an event during its reconcile marks it
dirty, and it runs again right after); ``add_after`` schedules the next look at a
deadline (a stop grace period ending, a timeout) without a thread per study.

``add(key, urgent=True)`` is a priority lane: the key goes to the front of the queue (or
moves there). The controller uses it for studies with a slot just freed, so that launching
a successor never waits behind reconciles that only have statuses to write.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class WorkQueue(Generic[Key]):
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Key] = deque()
        self._queued: set[Key] = set()
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
            self._queued.add(key)
            if urgent:
                self._queue.appendleft(key)
            else:
                self._queue.append(key)
            self._cond.notify()
        elif urgent:
            self._queue.remove(key)
            self._queue.appendleft(key)

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
                if self._queue:
                    key = self._queue.popleft()
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                timeout = self._delayed[0][0] - time.monotonic() if self._delayed else None
                self._cond.wait(timeout)

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
            return len(self._queue)

    def shut_down(self) -> None:
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()
