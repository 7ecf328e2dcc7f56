"""Kubernetes Events on a study: started, best trial improved, succeeded, failed.

``kubectl describe tuningstudy`` shows them in order. Posting never holds up a reconcile
and never fails it: an Event is a courtesy, the status is the record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from kubetune.api.events import EventReason
from kubetune.kube import paths
from kubetune.kube.client import ApiError, Kube

log = logging.getLogger(__name__)
COMPONENT = "kubetune-operator"
"""The Event's source and reporting component."""
EVENT_MESSAGE_LIMIT = 1024
"""Characters of an Event's message kept (the API server refuses messages over 1 KiB+)."""


class EventRecorder:
    def __init__(self, kube: Kube, pool: Executor) -> None:
        self._kube = kube
        self._pool = pool

    def post(self, obj: Mapping[str, Any], reason: EventReason, message: str) -> None:
        """Post in the background; the reason decides Normal or Warning."""
        self._pool.submit(
            self._post,
            dict(obj["metadata"]),
            str(obj["kind"]),
            str(obj["apiVersion"]),
            reason,
            message,
        )

    def _post(
        self,
        metadata: dict[str, Any],
        kind: str,
        api_version: str,
        reason: EventReason,
        message: str,
    ) -> None:
        event = event_body(metadata, kind, api_version, reason, message, datetime.now(UTC))
        try:
            self._kube.create(paths.events(metadata["namespace"]), event)
        except (ApiError, OSError) as error:
            log.info("could not post event %s on %s: %s", reason, metadata["name"], error)


def event_body(
    metadata: Mapping[str, Any],
    kind: str,
    api_version: str,
    reason: EventReason,
    message: str,
    now: datetime,
) -> dict[str, Any]:
    """A core/v1 Event about the object; its name is unique per object, moment and process."""
    namespace = metadata["namespace"]
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{metadata['name']}.{now.strftime('%Y%m%d%H%M%S%f')}{os.getpid()}",
            "namespace": namespace,
        },
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": metadata["name"],
            "namespace": namespace,
            "uid": metadata.get("uid"),
            "resourceVersion": metadata.get("resourceVersion"),
        },
        "reason": str(reason),
        "message": message[:EVENT_MESSAGE_LIMIT],
        "type": str(reason.event_type),
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "count": 1,
    }
