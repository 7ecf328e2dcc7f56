"""The operator's machinery: cache, watches, work queue, worker threads, leader election.

The watch threads (``watch.Watch``) call ``observe`` with every event; it updates the cache
and queues the event's study (in the queue's priority lane when the event frees a trial slot:
a pod or Job finished, a Job gone). Worker threads take studies off the queue and reconcile
them, one worker per study at a time; each reconcile says when it wants its next look (the
safety net that makes the operator correct even if an event is lost). Only the leader's
workers act; the others keep their cache warm and wait.
"""

from __future__ import annotations

import errno
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubetune import metrics
from kubetune.api.study import STUDY_LABEL
from kubetune.kube import paths, trial_status
from kubetune.kube.cache import Kind, ObjectCache, StudyKey, WatchEventType
from kubetune.kube.client import Kube, NotLeading, credentials_of, load_configuration
from kubetune.kube.events import EventRecorder
from kubetune.kube.job_events import JobEvents
from kubetune.kube.leader import LeaderElector
from kubetune.kube.reconciler import Reconciler
from kubetune.kube.settings import OperatorSettings, env_of, flag_of
from kubetune.kube.watch import Watch
from kubetune.kube.workqueue import Lane, ShutDown, WorkQueue

log = logging.getLogger(__name__)

HOUSEKEEPING_CONNECTIONS = 2
"""API connections beyond the workers', the pool's and the watches': the leader elector's and
the relist's."""


class StartError(RuntimeError):
    """The operator cannot start; the message says why and what to change."""


_LISTS = {
    Kind.STUDY: (paths.studies, None),
    Kind.TRIAL: (paths.trials, STUDY_LABEL),
    Kind.JOB: (paths.jobs, STUDY_LABEL),
    Kind.POD: (paths.pods, STUDY_LABEL),
}


class Controller:
    def __init__(self, settings: OperatorSettings) -> None:
        self.settings = settings
        # First, so that a port still held by an exiting operator fails before anything else.
        self.server = metrics_server(settings, self.healthy)
        configuration = load_configuration(settings.kubeconfig)
        self.credentials = credentials_of(configuration)
        watches = len(_LISTS) * max(1, len(settings.namespaces))
        self.kube = Kube(
            configuration,
            pool_size=settings.api_concurrency
            + settings.workers
            + watches
            + HOUSEKEEPING_CONNECTIONS,
            timeout_seconds=settings.request_timeout_seconds,
            observe=observe_request,
        )
        self.cache = ObjectCache()
        self.queue: WorkQueue[StudyKey] = WorkQueue(on_wait=observe_queue_wait)
        self.pool = ThreadPoolExecutor(settings.api_concurrency, thread_name_prefix="kubetune-api")
        # Reconciles write through the fence; the leader elector's own Lease writes do not.
        acting = self.kube.fenced(self.is_leader)
        self.events = EventRecorder(acting, self.pool)
        self.reconciler = Reconciler(
            acting,
            self.cache,
            settings,
            self.pool,
            self.events,
            JobEvents(acting, settings.job_events_interval_seconds),
        )
        self.leader: LeaderElector | None = None
        if settings.leader_election:
            self.leader = LeaderElector(
                self.kube,
                settings.lease_namespace,
                settings.lease_name,
                settings.identity,
                settings.lease_duration_seconds,
                settings.lease_renew_seconds,
                on_started_leading=self.enqueue_all,
            )
        self._workers: list[threading.Thread] = []
        self._stopped = threading.Event()
        self._synced = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Fill the cache from the API, watch from there on, then start working."""
        if self.server is not None:
            self.server.start()
        versions = self.relist()
        for (kind, namespace), version in versions.items():
            path_of, selector = _LISTS[kind]
            Watch(
                self.kube,
                kind,
                path_of(namespace),
                selector,
                version,
                self.observe,
                functools.partial(self._resync, kind, namespace),
                self._stopped,
                self.settings.watch_timeout_seconds,
            ).start()
        self._synced.set()
        for i in range(self.settings.workers):
            worker = threading.Thread(target=self._work, name=f"kubetune-worker-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)
        threading.Thread(target=self._housekeeping, name="kubetune-relist", daemon=True).start()
        if self.leader is not None:
            self.leader.start()
        else:
            self.enqueue_all()
        log.info(
            "kubetune operator started: %s, %d studies known",
            ", ".join(self.settings.namespaces) or "all namespaces",
            len(self.cache.study_keys()),
        )

    def stop(self) -> None:
        self._stopped.set()
        self.queue.shut_down()
        if self.leader is not None:
            self.leader.stop()
        for worker in self._workers:
            worker.join(timeout=self.settings.request_timeout_seconds)
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.server is not None:
            self.server.stop()

    def healthy(self) -> bool:
        return self._synced.is_set() and all(w.is_alive() for w in self._workers)

    def is_leader(self) -> bool:
        return self.leader is None or self.leader.is_leader()

    # -- input ----------------------------------------------------------------------------------

    def observe(self, kind: Kind, event: dict[str, Any]) -> None:
        """One watch event."""
        obj = event.get("object")
        if not isinstance(obj, dict) or "metadata" not in obj:
            return
        key = self.cache.apply(kind, event.get("type"), obj)
        if key is not None:
            self.queue.add(key, urgent=frees_a_slot(kind, event.get("type"), obj))

    def enqueue_all(self) -> None:
        for key in self.cache.study_keys():
            self.queue.add(key)

    def relist(self) -> dict[tuple[Kind, str | None], str]:
        """Bring the cache in line with a full LIST of every kind (start, and now and then);
        the resourceVersion of each LIST, by kind and namespace (None: all)."""
        return {
            (kind, namespace): self._relist_one(kind, namespace)
            for kind in _LISTS
            for namespace in self.settings.namespaces or (None,)
        }

    def _relist_one(self, kind: Kind, namespace: str | None) -> str:
        path_of, selector = _LISTS[kind]
        listing = self.kube.list(path_of(namespace), selector)
        version = str(listing.get("metadata", {}).get("resourceVersion") or "0")
        items = listing.get("items") or []
        api_version, item_kind = listing.get("apiVersion"), listing.get("kind", "")
        for item in items:  # LIST items lack apiVersion/kind
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", item_kind.removesuffix("List"))
        self.cache.replace(kind, items, int(version) if version.isdigit() else 0, namespace)
        return version

    def _resync(self, kind: Kind, namespace: str | None) -> str:
        """After a watch expired or failed: LIST again, and look at every study, since what
        changed in between is not known."""
        version = self._relist_one(kind, namespace)
        self.enqueue_all()
        return version

    # -- workers --------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            try:
                key = self.queue.get()
            except ShutDown:
                return
            try:
                if self.is_leader():
                    self._reconcile(key)
            finally:
                self.queue.done(key)

    def _reconcile(self, key: StudyKey) -> None:
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            wait = self.reconciler.reconcile(key)
        except NotLeading as refused:
            # The new leader reconciles the study; should this replica lead again,
            # ``enqueue_all`` brings it back.
            log.info("stopped reconciling %s/%s: %s", *key, refused)
            wait = None
        except Exception:
            metrics.RECONCILE_ERRORS.inc()
            log.exception("reconciling study %s/%s failed; retrying", *key)
            wait = min(self.settings.retry_seconds, self.settings.reconcile_interval_seconds)
        finally:
            metrics.RECONCILE_DURATION.observe(time.perf_counter() - started)
            metrics.RECONCILE_CPU.observe(time.thread_time() - cpu_started)
        if wait is not None:
            self.queue.add_after(key, wait)

    def _housekeeping(self) -> None:
        while not self._stopped.wait(self.settings.relist_interval_seconds):
            try:
                self.relist()
            except Exception:
                log.exception("relisting failed; the watches keep the cache meanwhile")
            self.enqueue_all()


def metrics_server(
    settings: OperatorSettings, healthy: Callable[[], bool]
) -> metrics.MetricsServer | None:
    """The /metrics and /healthz server, bound (not serving yet); None when turned off."""
    if not settings.metrics_port:
        return None
    try:
        return metrics.MetricsServer(settings.metrics_host, settings.metrics_port, healthy)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        raise StartError(
            f"the metrics port {settings.metrics_port} on {settings.metrics_host} is already in"
            " use (another operator still exiting?); choose another port with"
            f" {flag_of('metrics_port')} or {env_of('metrics_port')}, or 0 to turn the metrics"
            " server off"
        ) from None


def observe_request(method: str, path: str, seconds: float) -> None:
    metrics.API_REQUEST_DURATION.labels(method, paths.resource_of(path)).observe(seconds)


def observe_queue_wait(seconds: float, lane: Lane) -> None:
    metrics.QUEUE_WAIT.labels(lane).observe(seconds)


def frees_a_slot(kind: Kind, event_type: str | None, obj: dict[str, Any]) -> bool:
    """A trial's pod or Job finished, or its Job is gone: its study may launch a successor now.

    The pod's end comes first: the kubelet reports it, and the Job controller marks the Job
    a moment later (seconds on a busy cluster); the verdict is made from the pod already."""
    deleted = event_type == WatchEventType.DELETED
    if kind is Kind.JOB:
        return deleted or trial_status.job_finished(obj)
    return kind is Kind.POD and not deleted and trial_status.pod_finished(obj)
