"""Prometheus metrics of the operator, and the small HTTP server exposing them with /healthz.

Series are per study, never per trial (a study of 10,000 trials must not create 10,000
series). Gauges describe the present and are recomputed on every reconcile; counters count
what this process did since it started, as Prometheus counters do. A deleted study's series
are removed. The names follow Prometheus conventions: base units, ``_total`` on counters.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from kubetune import __version__
from kubetune.api.study import StudyPhase
from kubetune.api.trial import TrialPhase

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only double the output
REGISTRY = CollectorRegistry()

TRIALS = Gauge(
    "kubetune_trials",
    "Trials of a study by phase.",
    ["namespace", "study", "phase"],
    registry=REGISTRY,
)
STUDY_BEST_VALUE = Gauge(
    "kubetune_study_best_value",
    "Best objective value of a study so far.",
    ["namespace", "study", "metric"],
    registry=REGISTRY,
)
STUDY_HYPERVOLUME = Gauge(
    "kubetune_study_hypervolume",
    "Hypervolume of a multi-objective study's Pareto front (feasible trials), up to its "
    "reference point.",
    ["namespace", "study"],
    registry=REGISTRY,
)
STUDIES = Gauge("kubetune_studies", "Studies by phase.", ["phase"], registry=REGISTRY)
TRIALS_CREATED = Counter(
    "kubetune_trials_created", "Trials created by this operator process.", registry=REGISTRY
)
TRIALS_FINISHED = Counter(
    "kubetune_trials_finished",
    "Trials seen to finish, by final phase.",
    ["phase"],
    registry=REGISTRY,
)
TRIALS_PRUNED = Counter(
    "kubetune_trials_pruned", "Trials stopped early by a stopping rule.", registry=REGISTRY
)
SUGGESTION_DURATION = Histogram(
    "kubetune_suggestion_duration_seconds",
    "Time of one engine decision (suggestions and stopping rules).",
    ["algorithm"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "kubetune_reconcile_duration_seconds",
    "Time of one study reconcile.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
RECONCILE_STEP_DURATION = Histogram(
    "kubetune_reconcile_step_duration_seconds",
    "Wall time of each step of a reconcile (``ReconcileStep``): where a completion's wait for "
    "its successor goes.",
    ["step"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RECONCILE_CPU = Histogram(
    "kubetune_reconcile_cpu_seconds",
    "CPU time of the worker thread during one reconcile (its API calls on the pool excluded).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "kubetune_queue_wait_seconds",
    "Time a study waited in the work queue before a worker took it, by lane (``urgent``: a "
    "trial slot was freed; ``normal``: anything else that changed).",
    ["lane"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
API_REQUEST_DURATION = Histogram(
    "kubetune_api_request_duration_seconds",
    "Round trip of one API request the operator made (watches excluded), by verb and "
    "resource (``trials/status`` for a subresource).",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "kubetune_reconcile_errors", "Reconciles that raised an error.", registry=REGISTRY
)
GPU_SECONDS = Counter(
    "kubetune_gpu_seconds",
    "GPU-seconds used by trials that finished.",
    ["namespace", "study"],
    registry=REGISTRY,
)
STUDY_GPU_SECONDS = Gauge(
    "kubetune_study_gpu_seconds",
    "GPU-seconds used by a study's finished trials, from its status (survives restarts).",
    ["namespace", "study"],
    registry=REGISTRY,
)
BUILD_INFO = Gauge("kubetune_build_info", "The operator's version.", ["version"], registry=REGISTRY)
BUILD_INFO.labels(__version__).set(1)

_lock = threading.Lock()
_study_phases: dict[tuple[str, str], StudyPhase] = {}
_study_metrics: dict[tuple[str, str], set[str]] = {}


def observe_study(
    namespace: str,
    study: str,
    phase: StudyPhase,
    counts: Mapping[TrialPhase, int],
    best_values: Mapping[str, float],
    gpu_seconds: float | None = None,
    hypervolume: float | None = None,
) -> None:
    """Set a study's gauges from its latest reconcile.

    `gpu_seconds` is the study's total from its status; unlike the per-process counter
    `kubetune_gpu_seconds_total` it does not restart from zero with the operator.
    `hypervolume` is set for a multi-objective study once it has a feasible trial.
    """
    for trial_phase in TrialPhase:
        TRIALS.labels(namespace, study, str(trial_phase)).set(counts.get(trial_phase, 0))
    if gpu_seconds is not None:
        STUDY_GPU_SECONDS.labels(namespace, study).set(gpu_seconds)
    if hypervolume is not None:
        STUDY_HYPERVOLUME.labels(namespace, study).set(hypervolume)
    else:  # none yet, or a front too large to measure: no stale value
        _remove(STUDY_HYPERVOLUME, namespace, study)
    with _lock:
        _study_phases[(namespace, study)] = phase
        known = _study_metrics.setdefault((namespace, study), set())
        for metric in known - set(best_values):
            STUDY_BEST_VALUE.remove(namespace, study, metric)
        known.clear()
        known.update(best_values)
        _refresh_studies()
    for metric, value in best_values.items():
        STUDY_BEST_VALUE.labels(namespace, study, metric).set(value)


def trial_finished(namespace: str, study: str, phase: TrialPhase, gpu_seconds: float) -> None:
    TRIALS_FINISHED.labels(str(phase)).inc()
    if phase is TrialPhase.PRUNED:
        TRIALS_PRUNED.inc()
    if gpu_seconds > 0:
        GPU_SECONDS.labels(namespace, study).inc(gpu_seconds)


def forget_study(namespace: str, study: str) -> None:
    """Remove every series of a deleted study."""
    with _lock:
        _study_phases.pop((namespace, study), None)
        for metric in _study_metrics.pop((namespace, study), set()):
            STUDY_BEST_VALUE.remove(namespace, study, metric)
        _refresh_studies()
    for trial_phase in TrialPhase:
        _remove(TRIALS, namespace, study, str(trial_phase))
    _remove(GPU_SECONDS, namespace, study)
    _remove(STUDY_GPU_SECONDS, namespace, study)
    _remove(STUDY_HYPERVOLUME, namespace, study)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


def _refresh_studies() -> None:
    counts = {phase: 0 for phase in StudyPhase}
    for phase in _study_phases.values():
        counts[phase] += 1
    for phase, count in counts.items():
        STUDIES.labels(str(phase)).set(count)


class MetricsServer:
    """``/metrics`` for Prometheus and ``/healthz`` for the liveness probe, on one port."""

    def __init__(self, host: str, port: int, healthy: Callable[[], bool]) -> None:
        handler = _handler(healthy)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kubetune-metrics", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(healthy: Callable[[], bool]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/livez"):
                ok = healthy()
                self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n")
            else:
                self._reply(404, b"not found; try /metrics or /healthz\n")

        def _reply(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes every few seconds would drown the operator's log

    return Handler
