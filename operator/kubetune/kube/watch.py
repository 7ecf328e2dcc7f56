"""Watch streams that feed the cache: one thread per kind and namespace, no framework.

Thousands of trials make tens of thousands of watch events (each Trial, Job and pod changes
several times on its way to Running). kopf handled each one through its per-object machinery
(a task per object, a batching window, handler dispatch) and spent ten times the CPU of every
reconcile together, on the thread the workers share the interpreter with. What the operator
needs from a watch is little: each event's object, in order, into ``ObjectCache``. So each
``Watch`` reads the API server's JSON lines and hands them on.

A watch starts at the resourceVersion of the LIST that filled the cache, so no change falls
in between; a watch that ends is resumed from the last version seen (bookmarks keep it fresh
on a quiet stream); one the server expired (410 Gone) or that failed is replaced by a fresh
LIST (``relist``) and a watch from its version.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubetune.kube.cache import Kind, WatchEventType
from kubetune.kube.client import ApiError, Kube

log = logging.getLogger(__name__)

EXPIRED = 410
"""The status of an ERROR event whose resourceVersion is too old to resume from."""
BOOKMARK = "BOOKMARK"
ERROR = "ERROR"
RETRY_SECONDS = 1.0
"""Wait after a failed watch or LIST before trying again (the API server may be restarting)."""


class Watch(threading.Thread):
    """One kind in one namespace (or all of them), from a version onwards, until stopped."""

    def __init__(
        self,
        kube: Kube,
        kind: Kind,
        path: str,
        label_selector: str | None,
        version: str,
        observe: Callable[[Kind, dict[str, Any]], None],
        relist: Callable[[], str],
        stopped: threading.Event,
        timeout_seconds: int,
    ) -> None:
        super().__init__(name=f"kubetune-watch-{kind}", daemon=True)
        self.kube = kube
        self.kind = kind
        self.path = path
        self.label_selector = label_selector
        self.version = version
        self.observe = observe
        self.relist = relist
        """A fresh LIST of this kind into the cache; returns its resourceVersion."""
        self.stopped = stopped
        self.timeout_seconds = timeout_seconds

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                if not self._follow():
                    self.version = self.relist()
            except Exception:
                log.exception("watching %s failed; listing again", self.path)
                self.stopped.wait(RETRY_SECONDS)
                try:
                    self.version = self.relist()
                except Exception:
                    log.exception("listing %s failed; retrying", self.path)

    def _follow(self) -> bool:
        """One watch request; False when its version expired (a LIST must come first)."""
        events = self.kube.watch(self.path, self.label_selector, self.version, self.timeout_seconds)
        for event in events:
            if self.stopped.is_set():
                return True
            kind = event.get("type")
            obj = event.get("object") or {}
            if kind == ERROR:
                if obj.get("code") == EXPIRED:
                    return False
                raise ApiError(int(obj.get("code") or 0), obj.get("reason") or "", str(obj))
            self.version = (obj.get("metadata") or {}).get("resourceVersion") or self.version
            if kind in (WatchEventType.ADDED, WatchEventType.MODIFIED, WatchEventType.DELETED):
                self.observe(self.kind, event)
        return True
