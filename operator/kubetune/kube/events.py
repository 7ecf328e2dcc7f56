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

from kubetune.kube import paths
from kubetune.kube.client import ApiError, Kube

log = logging.getLogger(__name__)
COMPONENT = "kubetune-operator"


class EventRecorder:
    def __init__(self, kube: Kube, pool: Executor) -> None:
        self._kube = kube
        self._pool = pool

    def post(
        self, obj: Mapping[str, Any], reason: str, message: str, warning: bool = False
    ) -> None:
        self._pool.submit(
            self._post,
            dict(obj["metadata"]),
            str(obj["kind"]),
            str(obj["apiVersion"]),
            reason,
            message,
            warning,
        )

    def _post(
        self,
        metadata: dict[str, Any],
        kind: str,
        api_version: str,
        reason: str,
        message: str,
        warning: bool,
    ) -> None:
        now = datetime.now(UTC)
        namespace = metadata["namespace"]
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata['name']}.{now.strftime('%Y%m%d%H%M%S%f')}{os.getpid() % 1000}",
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
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": os.environ.get("HOSTNAME", COMPONENT),
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
        }
        try:
            self._kube.create(paths.events(namespace), event)
        except (ApiError, OSError) as error:
            log.info("could not post event %s on %s: %s", reason, metadata["name"], error)
