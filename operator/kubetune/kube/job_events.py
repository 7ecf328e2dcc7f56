"""Why a trial's Job has no pod: the Job controller's ``FailedCreate`` Events, read sparingly.

When the API server refuses a Job's pod (a ResourceQuota exceeded, a LimitRange, an
admission webhook), the Job's status shows nothing of it: the Job controller posts a Warning
Event ``FailedCreate`` on the Job and retries with backoff. Without these Events a trial
would say ``WaitingForPod`` for ever. So while some trial of a study waits for its pod, the
reconciler asks here for the namespace's ``FailedCreate`` Events on Jobs: the API server
filters them (field selectors), and a namespace is listed at most once per
``job_events_interval_seconds``, whichever study asks, so the load stays bounded however
many trials wait.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kubetune.kube import paths
from kubetune.kube.client import ApiError, Kube

log = logging.getLogger(__name__)
FAILED_CREATE_SELECTOR = "involvedObject.kind=Job,reason=FailedCreate"


class JobEvents:
    def __init__(self, kube: Kube, interval_seconds: float) -> None:
        self._kube = kube
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, dict[str, str]]] = {}
        """namespace → (when listed, monotonic; latest FailedCreate message by Job uid)."""

    def failed_creates(self, namespace: str) -> dict[str, str]:
        """The latest ``FailedCreate`` message of each Job in the namespace, by Job uid."""
        now = time.monotonic()
        with self._lock:
            held = self._read.get(namespace)
            if held is not None and now - held[0] < self._interval:
                return held[1]
        try:
            listing = self._kube.list(
                paths.events(namespace), field_selector=FAILED_CREATE_SELECTOR
            )
            messages = latest_messages(listing.get("items") or [])
        except (ApiError, OSError) as error:  # a courtesy: never fail the reconcile for it
            log.info("could not read the Job events of %s: %s", namespace, error)
            messages = {}
        with self._lock:
            self._read[namespace] = (now, messages)
        return messages


def latest_messages(events: list[dict[str, Any]]) -> dict[str, str]:
    """The message of each involved object's latest Event, by the object's uid."""
    latest: dict[str, tuple[str, str]] = {}
    for event in events:
        uid = (event.get("involvedObject") or {}).get("uid")
        moment = (
            event.get("lastTimestamp")
            or event.get("eventTime")
            or (event.get("metadata") or {}).get("creationTimestamp")
            or ""
        )
        if uid and (uid not in latest or latest[uid][0] <= moment):
            latest[uid] = (moment, event.get("message") or "")
    return {uid: message for uid, (_, message) in latest.items()}
