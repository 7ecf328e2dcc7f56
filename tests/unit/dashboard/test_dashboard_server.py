"""The dashboard server over a local state directory: pages, JSON, and every failure a page."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubetune import cli
from kubetune.api.trial import TrialPhase
from kubetune.dashboard import server
from kubetune.dashboard.server import (
    CachedSource,
    ClusterSource,
    LocalSource,
    StudySource,
    make_server,
)
from kubetune.local.reader import LocalStudyReader, read_local_study
from kubetune.local.store import LocalTrial, StudyStore
from kubetune.record import RecordUnavailable
from kubetune.report import PlotlyMissing, plotly_js
from tests.tools.dashboard_studies import record, trial, write_local_study
from tests.tools.records import pbt_record

ATTACK = "<script>alert(1)</script>"


def fetch(base: str, path: str, method: str = "GET") -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def serve(source: StudySource) -> Iterator[str]:
    server = make_server(source, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    write_local_study(
        tmp_path,
        "demo",
        [
            (
                LocalTrial(0, {"lr": 0.1, "opt": "adam"}, phase=TrialPhase.SUCCEEDED),
                [{"step": 1, "values": {"loss": 2.0}}, {"step": 2, "values": {"loss": 1.5}}],
            ),
            (
                LocalTrial(1, {"lr": 0.2, "opt": "sgd"}, phase=TrialPhase.FAILED, message=ATTACK),
                [],
            ),
            (
                LocalTrial(2, {"lr": 0.3, "opt": "adam"}, phase=TrialPhase.SUCCEEDED),
                [{"step": 1, "values": {"loss": "NaN"}, "nonFinite": {"loss": "nan"}}],
            ),
        ],
    )
    write_local_study(
        tmp_path, "failing", [(LocalTrial(0, {"lr": 0.5}, phase=TrialPhase.FAILED), [])]
    )
    return tmp_path


@pytest.fixture
def base(state: Path) -> Iterator[str]:
    yield from serve(LocalSource(state))


def test_the_index_lists_local_studies_with_progress(base: str) -> None:
    status, html, headers = fetch(base, "/")
    assert status == 200 and 'href="/studies/demo"' in html and 'href="/studies/failing"' in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    status, body, _ = fetch(base, "/api/studies")
    studies = {s["name"]: s for s in json.loads(body)["studies"]}
    assert studies["demo"]["finished"] == 3 and studies["demo"]["bestValue"] == 1.5


def test_the_table_endpoint_sorts_filters_and_pages(base: str) -> None:
    status, body, _ = fetch(base, "/api/studies/demo/trials?sort=value:loss&desc=1&limit=2")
    table = json.loads(body)
    assert status == 200 and table["matched"] == 3 and len(table["rows"]) == 2
    _, body, _ = fetch(base, "/api/studies/demo/trials?phase=Failed")
    assert [r["message"] for r in json.loads(body)["rows"]] == [ATTACK]


def test_the_study_and_trial_pages_are_served_and_escaped(base: str) -> None:
    assert fetch(base, "/studies/demo")[0] == 200
    status, html, _ = fetch(base, "/studies/demo/trials/1")
    assert status == 200 and ATTACK not in html and "&lt;script&gt;" in html
    status, html, _ = fetch(base, "/studies/demo/trials/0")
    assert '<script src="/static/plotly.min.js">' in html and "kubetune.draw(" in html
    status, body, _ = fetch(base, "/api/studies/demo/trials/0")
    assert json.loads(body)["intermediate"][1] == {"step": 2, "values": {"loss": 1.5}}


@pytest.mark.parametrize(
    ("path", "status", "says"),
    [
        ("/studies/nope", 404, "no local study &#x27;nope&#x27;"),
        ("/api/studies/nope", 404, "no local study 'nope'"),
        ("/studies/demo/trials/9", 404, "no trial 9"),
        ("/api/studies/demo/trials?sort=bogus", 400, "sort='bogus'"),
        ("/api/studies/demo/trials?top=x", 400, "top='x' is not a whole number"),
        ("/etc/passwd", 404, "no page /etc/passwd"),
    ],
)
def test_failures_are_messages_not_tracebacks(base: str, path: str, status: int, says: str) -> None:
    got, body, _ = fetch(base, path)
    assert got == status and says in body and "Traceback" not in body


def test_a_study_with_only_failed_trials_says_so(base: str) -> None:
    body = json.loads(fetch(base, "/api/studies/failing")[1])
    assert "Every trial so far has failed" in body["notice"]


def test_it_only_reads(base: str) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert fetch(base, "/api/studies/demo", method)[0] == 501


def test_an_empty_state_dir_says_how_to_start(tmp_path: Path) -> None:
    for url in serve(LocalSource(tmp_path / "missing")):
        status, html, _ = fetch(url, "/")
        assert status == 200 and "No studies in" in html


def test_an_unusable_cluster_is_a_message(tmp_path: Path) -> None:
    for url in serve(ClusterSource("ml", tmp_path / "no-kubeconfig")):
        status, html, _ = fetch(url, "/")
        assert status == 404 and "no kubeconfig at" in html and "Traceback" not in html
        status, body, _ = fetch(url, "/api/studies/x/trials")
        assert "no kubeconfig at" in json.loads(body)["error"]


def test_the_command_refuses_cluster_options_without_cluster(capsys: Any) -> None:
    assert cli.main(["dashboard", "--namespace", "ml"]) == 1
    assert "add --cluster" in capsys.readouterr().err


def test_the_command_warns_before_listening_beyond_this_machine(
    capsys: Any, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        port = taken.getsockname()[1]
        code = cli.main(["dashboard", "--host", "0.0.0.0", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 1 and "WARNING: listening on 0.0.0.0" in err and "pass another --port" in err


class SlowSource:
    """A source whose reads wait until the test lets them through, and count themselves."""

    where = "a test"

    def __init__(self) -> None:
        self.reads = 0
        self.gate = threading.Event()
        self.fail: Exception | None = None

    def studies(self) -> list[Any]:
        return []

    def read(self, name: str) -> Any:
        self.reads += 1
        if self.reads > 1:
            self.gate.wait(timeout=30)
        if self.fail is not None:
            raise self.fail
        return record([trial(i) for i in range(self.reads)], name)


def test_polls_get_the_last_read_at_once_while_one_fresh_read_runs_behind() -> None:
    source = SlowSource()
    cached = CachedSource(source, seconds=0.0)
    first = cached.read("demo")
    assert cached.read("demo") is first and cached.read("demo") is first  # refresh waits
    assert source.reads == 2  # one background read, however many polls
    source.gate.set()
    assert cached.refresher is not None
    cached.refresher.join()
    assert len(cached.read("demo").trials) == 2


def test_a_study_that_goes_away_is_reported_on_the_next_poll() -> None:
    source = SlowSource()
    cached = CachedSource(source, seconds=0.0)
    cached.read("demo")
    source.fail = RecordUnavailable("no local study 'demo'")
    source.gate.set()
    cached.read("demo")
    assert cached.refresher is not None
    cached.refresher.join()
    with pytest.raises(RecordUnavailable, match="no local study"):
        cached.read("demo")


def test_the_incremental_reader_reads_what_read_local_study_reads(state: Path) -> None:
    reader = LocalStudyReader(state, "demo")
    assert reader.read() == read_local_study(state, "demo")
    store = StudyStore(state / "demo")
    with (store.trial_dir(2) / "metrics.jsonl").open("a") as stream:
        stream.write(json.dumps({"step": 2, "values": {"loss": 0.5}}) + "\n")
    store.save(LocalTrial(3, {"lr": 0.4, "opt": "sgd"}))  # a new trial, Running
    store.save(LocalTrial(1, {"lr": 0.2, "opt": "sgd"}, phase=TrialPhase.SUCCEEDED))
    again = reader.read()
    assert again == read_local_study(state, "demo")
    assert again.trials[2].values == {"loss": 0.5} and again.trials[1].message is None
    assert [t.phase for t in again.trials][-1] is TrialPhase.RUNNING
    shutil.rmtree(store.trial_dir(3))
    assert [t.index for t in reader.read().trials] == [0, 1, 2]


@pytest.mark.parametrize(
    ("host", "status"),
    [("evil.example:8080", 403), ("localhost:8080", 200), ("127.0.0.1", 200), ("[::1]:80", 200)],
)
def test_a_loopback_dashboard_refuses_other_host_names(base: str, host: str, status: int) -> None:
    request = urllib.request.Request(base + "/api/studies", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            got, body = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        got, body = error.code, error.read().decode()
    assert got == status
    if status == 403:
        assert "127.0.0.1 or localhost only" in json.loads(body)["error"]


def test_without_plotly_the_report_page_says_what_to_install(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> str:
        raise PlotlyMissing("pip install 'kubetune[report]'")

    monkeypatch.setattr(server, "plotly_js", missing)
    status, html, _ = fetch(base, "/studies/demo/report")
    assert status == 404 and "pip install &#x27;kubetune[report]&#x27;" in html
    assert "report</a>" not in fetch(base, "/studies/demo")[1]
    trial_page = fetch(base, "/studies/demo/trials/0")[1]  # the curve drawn without plotly
    assert "<polyline" in trial_page and "plotly" not in trial_page
    assert fetch(base, "/static/plotly.min.js")[0] == 404


def test_the_trial_page_draws_with_the_plotly_js_the_dashboard_serves(base: str) -> None:
    status, script, headers = fetch(base, "/static/plotly.min.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert script == plotly_js() and "max-age" in headers["Cache-Control"]
    status, script, _ = fetch(base, "/static/draw.js")
    assert status == 200 and "kubetune" in script
    headers = fetch(base, "/studies/demo/trials/0")[2]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"


def test_with_plotly_a_study_links_to_its_live_report(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "report_html", lambda figures: f"<html>{figures.overview}</html>")
    assert 'href="/studies/demo/report">report</a>' in fetch(base, "/studies/demo")[1]
    status, html, headers = fetch(base, "/studies/demo/report")
    assert status == 200 and html.startswith("<html>") and "demo" in html
    assert "Content-Security-Policy" not in headers


class PopulationSource:
    """A study of population-based training (lineage attributes), and one without."""

    where = "memory"

    def studies(self) -> list[Any]:
        return []

    def read(self, name: str) -> Any:
        return pbt_record() if name == "pbt" else record([trial(0, loss=1.0)], name)


def test_the_live_report_shows_the_lineage_of_a_population_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn: list[list[str]] = []
    monkeypatch.setattr(
        server, "report_html", lambda figures: drawn.append([f.key for f in figures.figures]) or ""
    )
    dashboard = server.Dashboard(PopulationSource())
    assert dashboard.answer("/studies/pbt/report", {}).status == 200
    assert dashboard.answer("/studies/demo/report", {}).status == 200
    assert "lineage" in drawn[0] and "lineage-schedule" in drawn[0]
    assert not {"lineage", "lineage-schedule"} & set(drawn[1])
