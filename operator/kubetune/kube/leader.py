"""Leader election through a coordination.k8s.io/v1 Lease, so two replicas never both act.

kopf's own peering needs its KopfPeering CRDs installed; a Lease is built in and is what
kube-controller-manager and controller-runtime use. The algorithm is client-go's: the
holder renews ``renewTime`` every ``lease_renew_seconds``; a candidate takes the Lease over
once it has seen the same record, unrenewed, for ``lease_duration_seconds`` (measured on its
own clock, so clock skew between replicas does not matter); every write carries the
resourceVersion it read, so of two candidates exactly one wins. A leader that has not renewed
within the renew deadline (one renew period short of the lease duration, as client-go's
``RenewDeadline``) steps down by itself, before any candidate may take over. Leaving releases
the Lease at once.

Fencing: the reconciler writes through ``Kube.fenced(is_leader)``, which asks ``is_leader``
right before every write. A leader paused past its Lease (SIGSTOP, a frozen VM) resumes
mid-reconcile with a stale cache; its monotonic clock has moved on, so its next write is
refused (``NotLeading``) instead of racing the new leader's. What is left is a request
already on the wire when the pause began: names are deterministic and creates of existing
names fail, so such a write cannot launch a trial twice.

Every replica keeps watching (its cache stays warm), so a takeover costs one lease period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubetune.kube import paths
from kubetune.kube.client import ApiError, Kube

log = logging.getLogger(__name__)

STOP_JOIN_SECONDS = 5.0
"""Longest ``stop`` waits for the election thread before releasing the Lease anyway."""


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        duration_seconds: float,
        renew_seconds: float,
        on_started_leading: Callable[[], None],
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration_seconds
        self.renew = renew_seconds
        self.on_started_leading = on_started_leading
        self._leading = threading.Event()
        self._stopped = threading.Event()
        self._observed: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._renewed_at = 0.0
        self._thread = threading.Thread(target=self._run, name="kubetune-leader", daemon=True)

    @property
    def renew_deadline(self) -> float:
        """Seconds without a renewal after which the leader steps down: a renew period before
        a candidate could take over (at least half the lease, for very short renew periods)."""
        return max(self.duration - self.renew, self.duration / 2)

    def is_leader(self) -> bool:
        unrenewed = time.monotonic() - self._renewed_at
        if self._leading.is_set() and unrenewed > self.renew_deadline:
            log.warning("could not renew the lease for %.1fs: stepping down", unrenewed)
            self._leading.clear()
        return self._leading.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=STOP_JOIN_SECONDS)
        if self._leading.is_set():
            self._release()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                self._try_acquire_or_renew()
            except (ApiError, OSError) as error:
                log.warning("lease %s/%s: %s", self.namespace, self.name, error)
            self._stopped.wait(self.renew)

    def _try_acquire_or_renew(self) -> None:
        lease = self.kube.get(paths.lease(self.namespace, self.name))
        now = datetime.now(UTC)
        if lease is None:
            created = self.kube.create(paths.leases(self.namespace), self._lease_body(None, now, 0))
            if created is not None:
                self._became_leader()
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, time.monotonic()
        expired = time.monotonic() - self._observed_at > self.duration
        if holder and holder != self.identity and not expired:
            if self._leading.is_set():
                log.warning("lease taken by %s: stepping down", holder)
                self._leading.clear()
            return
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        body = self._lease_body(lease, now, transitions, acquired)
        try:
            self.kube.replace(paths.lease(self.namespace, self.name), body)
        except ApiError as error:
            if error.status == 409:
                return  # another replica wrote first; look again next round
            raise
        self._renewed_at = time.monotonic()
        if not self._leading.is_set():
            self._became_leader()

    def _became_leader(self) -> None:
        self._renewed_at = time.monotonic()
        self._leading.set()
        log.info("leading as %s (lease %s/%s)", self.identity, self.namespace, self.name)
        self.on_started_leading()

    def _lease_body(
        self,
        lease: dict[str, Any] | None,
        now: datetime,
        transitions: int,
        acquired: str | None = None,
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": max(1, round(self.duration)),
                "acquireTime": acquired or _micro_time(now),
                "renewTime": _micro_time(now),
                "leaseTransitions": transitions,
            },
        }

    def _release(self) -> None:
        """Hand the Lease over at once; best effort, since shutdown must never hang on it.

        On ``helm uninstall`` the Role that grants the Lease may already be gone (403): the
        Lease then simply expires after its duration.
        """
        self._leading.clear()
        try:
            lease = self.kube.get(paths.lease(self.namespace, self.name))
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = ""
            lease["spec"]["renewTime"] = _micro_time(datetime(1970, 1, 1, tzinfo=UTC))
            self.kube.replace(paths.lease(self.namespace, self.name), lease)
        except (ApiError, OSError) as error:
            log.warning("could not release the lease, it will expire instead: %s", error)
