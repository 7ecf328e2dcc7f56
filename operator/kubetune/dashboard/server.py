"""The dashboard's HTTP server: routes, record reading and caching, errors as pages.

A stdlib ``ThreadingHTTPServer`` (no web framework to install or patch) that only answers
GET and HEAD and only ever reads: studies come from a ``StudySource`` — a local state
directory or a cluster namespace — through the same readers ``kubetune results`` uses.
Records are cached for a moment so that several open pages polling every few seconds cost
one read of the study. Whatever goes wrong becomes a page or a JSON ``{"error": ...}`` that
says what to do; tracebacks go to the server's log, never to the browser.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from kubetune.dashboard import pages, view
from kubetune.figures import study_figures
from kubetune.local.reader import LocalStudyReader, list_local_studies
from kubetune.record import RecordUnavailable, StudyOverview, StudyRecord
from kubetune.report import PlotlyMissing, draw_js, plotly_js, report_html

CACHE_SECONDS = 2.0
"""How long a read record is served before the study is read again."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
"""Hosts only this machine can reach; any other exposes the dashboard to the network."""
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
)
"""The dashboard's own pages load nothing from anywhere but themselves (and the scripts it
serves: plotly.js and draw.js)."""

STATIC_MAX_AGE = 3600
"""Seconds a browser may keep the served scripts (plotly.js is 4.8 MB): every trial page
uses them; a new dashboard version is picked up within the hour."""


class StudySource(Protocol):
    """Where studies are read from."""

    @property
    def where(self) -> str:
        """The source for people: a folder, or a namespace of a cluster."""
        ...

    def studies(self) -> list[StudyOverview]: ...

    def read(self, name: str) -> StudyRecord: ...


@dataclass
class LocalSource:
    """Studies that ``kubetune run`` keeps under a state directory.

    Each study is read by a ``LocalStudyReader``, which re-parses only the trials that
    changed since the last read.
    """

    state_dir: Path
    _readers: dict[str, LocalStudyReader] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    """One read at a time: a reader's cache is not for two threads (list page and refresh)."""

    @property
    def where(self) -> str:
        return f"the state directory {self.state_dir.resolve()}"

    def studies(self) -> list[StudyOverview]:
        return list_local_studies(self.state_dir, self.read)

    def read(self, name: str) -> StudyRecord:
        with self._lock:
            reader = self._readers.get(name) or LocalStudyReader(self.state_dir, name)
            record = reader.read()  # RecordUnavailable for an unknown name: nothing is kept
            self._readers[name] = reader
            return record


@dataclass(frozen=True)
class ClusterSource:
    """TuningStudies of one namespace of a cluster, read with a kubeconfig (or in-cluster)."""

    namespace: str | None = None
    kubeconfig: Path | None = None

    @property
    def where(self) -> str:
        return f"namespace {self.namespace or '(the kubeconfig context’s)'} of the cluster"

    def studies(self) -> list[StudyOverview]:
        # Imported here: the kubernetes client is slow to import and only --cluster needs it.
        from kubetune.kube.reader import list_cluster_studies

        return list_cluster_studies(self.namespace, self.kubeconfig)

    def read(self, name: str) -> StudyRecord:
        from kubetune.kube.reader import read_cluster_study

        return read_cluster_study(name, self.namespace, self.kubeconfig)


@dataclass
class _Entry:
    """The last read of one study, and whether a newer read is under way."""

    read_at: float
    record: StudyRecord | None = None
    error: RecordUnavailable | None = None
    refreshing: bool = False


@dataclass
class CachedSource:
    """A source whose records are served from memory and refreshed behind the pages' backs.

    The first request for a study reads it; later ones get the last read at once, and one
    older than ``seconds`` starts a single background read that the next poll picks up. A
    10,000-trial study takes seconds to read, so without this every poll would wait that long.
    Only studies that were read once are kept, so unknown names cannot fill the memory.
    """

    source: StudySource
    seconds: float = CACHE_SECONDS
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _first_read: threading.Lock = field(default_factory=threading.Lock)
    refresher: threading.Thread | None = None
    """The latest background read (tests wait for it)."""

    @property
    def where(self) -> str:
        return self.source.where

    def studies(self) -> list[StudyOverview]:
        return self.source.studies()

    def read(self, name: str) -> StudyRecord:
        entry = self._entries.get(name)
        if entry is None:
            with self._first_read:  # concurrent first requests share one read
                entry = self._entries.get(name) or self._store(name, self.source.read(name))
        elif time.monotonic() - entry.read_at >= self.seconds:
            with self._lock:
                start, entry.refreshing = not entry.refreshing, True
            if start:
                self.refresher = threading.Thread(target=self._refresh, args=(name,), daemon=True)
                self.refresher.start()
        if entry.error is not None:
            raise entry.error
        assert entry.record is not None
        return entry.record

    def _store(
        self, name: str, record: StudyRecord | None, error: RecordUnavailable | None = None
    ) -> _Entry:
        entry = _Entry(time.monotonic(), record, error)
        with self._lock:
            self._entries[name] = entry
        return entry

    def _refresh(self, name: str) -> None:
        try:
            self._store(name, self.source.read(name))
        except RecordUnavailable as error:  # gone, or the cluster went away: say so next time
            self._store(name, None, error)
        except Exception:  # a bug: keep the last read, log it, try again on a later poll
            traceback.print_exc(file=sys.stderr)
            with self._lock:
                self._entries[name].refreshing = False


def report_renderer() -> Callable[[StudyRecord], str] | None:
    """The report page of a record, or None without plotly (the ``kubetune[report]`` extra,
    which the operator image does not install): then a study page links to no report."""
    try:
        plotly_js()
    except PlotlyMissing:
        return None
    return lambda record: report_html(study_figures(record))


@dataclass(frozen=True)
class Answer:
    """What a route answers: a status, a content type and a body."""

    status: HTTPStatus
    body: str
    content_type: str = "text/html; charset=utf-8"
    cacheable: bool = False
    """A script that does not change while the dashboard runs; everything else is no-store."""

    @staticmethod
    def json(data: Any, status: HTTPStatus = HTTPStatus.OK) -> Answer:
        return Answer(status, json.dumps(data, allow_nan=False), "application/json")


SCRIPT_TYPE = "text/javascript; charset=utf-8"


class NotFound(LookupError):
    """A path the dashboard does not serve."""


Route = Callable[["Dashboard", dict[str, str], dict[str, str]], Answer]
_NAME = r"(?P<name>[^/]+)"
_INDEX = r"(?P<index>[0-9]+)"


@dataclass
class Dashboard:
    """The routes over a source; ``answer`` is what the HTTP handler calls."""

    source: StudySource

    def answer(self, path: str, query: dict[str, str]) -> Answer:
        """The answer to GET ``path``; every failure becomes a page or a JSON error."""
        api = path.startswith("/api/")
        try:
            for pattern, route in ROUTES:
                match = pattern.fullmatch(path)
                if match:
                    groups = {k: unquote(v) for k, v in match.groupdict().items()}
                    return route(self, groups, query)
            raise NotFound(f"the dashboard has no page {path}; start from /")
        except (RecordUnavailable, view.UnknownTrial, NotFound) as error:
            return _error(api, HTTPStatus.NOT_FOUND, "Not found", str(error))
        except view.BadQuery as error:
            return _error(api, HTTPStatus.BAD_REQUEST, "Bad request", str(error))
        except Exception as error:  # any bug: a page for the user, the traceback for the log
            traceback.print_exc(file=sys.stderr)
            why = f"the dashboard failed ({type(error).__name__}: {error}); its log has details"
            return _error(api, HTTPStatus.INTERNAL_SERVER_ERROR, "Dashboard error", why)

    def health(self, _: dict[str, str], __: dict[str, str]) -> Answer:
        """For probes: the server answers; it does not ask the source (a cluster may be slow)."""
        return Answer(HTTPStatus.OK, "ok\n", "text/plain; charset=utf-8")

    def studies_page(self, _: dict[str, str], __: dict[str, str]) -> Answer:
        return Answer(HTTPStatus.OK, pages.studies_page(self.source.studies(), self.source.where))

    def study_page(self, groups: dict[str, str], _: dict[str, str]) -> Answer:
        record = self.source.read(groups["name"])
        return Answer(HTTPStatus.OK, pages.study_page(record.name, report_renderer() is not None))

    def trial_page(self, groups: dict[str, str], _: dict[str, str]) -> Answer:
        record = self.source.read(groups["name"])
        trial = view.find_trial(record, int(groups["index"]))
        plotted = report_renderer() is not None
        return Answer(HTTPStatus.OK, pages.trial_page(record, trial, plotted))

    def plotly_script(self, _: dict[str, str], __: dict[str, str]) -> Answer:
        try:
            return Answer(HTTPStatus.OK, plotly_js(), SCRIPT_TYPE, cacheable=True)
        except PlotlyMissing as error:
            raise NotFound(str(error)) from error

    def draw_script(self, _: dict[str, str], __: dict[str, str]) -> Answer:
        return Answer(HTTPStatus.OK, draw_js(), SCRIPT_TYPE, cacheable=True)

    def report_page(self, groups: dict[str, str], _: dict[str, str]) -> Answer:
        renderer = report_renderer()
        if renderer is None:
            raise NotFound("the report needs the plotting extra: pip install 'kubetune[report]'")
        return Answer(HTTPStatus.OK, renderer(self.source.read(groups["name"])))

    def studies_json(self, _: dict[str, str], __: dict[str, str]) -> Answer:
        studies = [view.overview_json(s) for s in self.source.studies()]
        return Answer.json({"where": self.source.where, "studies": studies})

    def study_json(self, groups: dict[str, str], _: dict[str, str]) -> Answer:
        return Answer.json(view.study_json(self.source.read(groups["name"])))

    def table_json(self, groups: dict[str, str], query: dict[str, str]) -> Answer:
        record = self.source.read(groups["name"])
        return Answer.json(view.trial_table(record, view.parse_table_query(query)))

    def trial_json(self, groups: dict[str, str], _: dict[str, str]) -> Answer:
        record = self.source.read(groups["name"])
        return Answer.json(view.trial_json(view.find_trial(record, int(groups["index"]))))


ROUTES: list[tuple[re.Pattern[str], Route]] = [
    (re.compile(pattern), route)
    for pattern, route in [
        (r"/", Dashboard.studies_page),
        (r"/healthz", Dashboard.health),
        (rf"/studies/{_NAME}", Dashboard.study_page),
        (rf"/studies/{_NAME}/trials/{_INDEX}", Dashboard.trial_page),
        (rf"/studies/{_NAME}/report", Dashboard.report_page),
        (re.escape(pages.PLOTLY_PATH), Dashboard.plotly_script),
        (re.escape(pages.DRAW_PATH), Dashboard.draw_script),
        (r"/api/studies", Dashboard.studies_json),
        (rf"/api/studies/{_NAME}", Dashboard.study_json),
        (rf"/api/studies/{_NAME}/trials", Dashboard.table_json),
        (rf"/api/studies/{_NAME}/trials/{_INDEX}", Dashboard.trial_json),
    ]
]


def _error(api: bool, status: HTTPStatus, title: str, message: str) -> Answer:
    if api:
        return Answer.json({"error": message}, status)
    return Answer(status, pages.message_page(title, message))


class _Handler(BaseHTTPRequestHandler):
    """Hands GET and HEAD to the dashboard; anything else is refused: it is read-only."""

    server: DashboardServer
    server_version = "kubetune-dashboard"

    def do_GET(self) -> None:
        self._send(send_body=True)

    def do_HEAD(self) -> None:
        self._send(send_body=False)

    def _send(self, send_body: bool) -> None:
        url = urlsplit(self.path)
        if self.server.loopback_only and not _loopback_host_header(self.headers.get("Host", "")):
            # A page on another site may resolve its own name to 127.0.0.1 (DNS rebinding)
            # and read this one's answers; a browser asking for 127.0.0.1 never sends that.
            why = "this dashboard answers requests for 127.0.0.1 or localhost only"
            answer = _error(url.path.startswith("/api/"), HTTPStatus.FORBIDDEN, "Forbidden", why)
        else:
            answer = self.server.dashboard.answer(url.path, dict(parse_qsl(url.query)))
        body = answer.body.encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        cache = f"max-age={STATIC_MAX_AGE}" if answer.cacheable else "no-store"
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        if not url.path.endswith("/report"):
            self.send_header("Content-Security-Policy", PAGE_POLICY)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the study page polls every few seconds; errors still reach the log."""


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the dashboard its handlers answer from."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self.loopback_only = is_loopback(address[0])
        """Bound to this machine only: refuse requests that name another host."""
        super().__init__(address, _Handler)


def make_server(source: StudySource, host: str, port: int) -> DashboardServer:
    """A server bound to ``host:port`` (port 0: any free port), not yet serving."""
    return DashboardServer((host, port), Dashboard(CachedSource(source)))


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def _loopback_host_header(header: str) -> bool:
    """Whether a Host header (``name``, ``name:port``, ``[::1]:port``) names this machine."""
    host = header.rsplit(":", 1)[0] if header.count(":") == 1 else header
    if host.startswith("["):
        host = host[1 : host.index("]")] if "]" in host else host
    return is_loopback(host)
