"""Bad input for the three ways of looking at a study — `kubetune report`, `kubetune
importance` and the dashboard — side by side (issue 14's list): a study that does not exist,
an empty one, one whose trials all failed, 64 parameters, non-finite values and a cluster that
cannot be reached. Each gets a clear message or an explanatory page, never a traceback. Cases
already covered elsewhere are named here so the list can be checked in one place:

- missing local study: test_report_command, test_importance_command, test_dashboard_server
  (``/studies/nope``); missing cluster study: integration/test_dashboard_cluster (all three);
- empty study and only failed trials: test_report_command, test_importance_command, and the
  dashboard below and in test_dashboard_server;
- unreachable cluster: test_report_command and below (importance), integration
  test_dashboard_cluster (dashboard, and report and importance against a closed port).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.dashboard.server import LocalSource, make_server
from tests.unit.local.test_importance_command import lr_driven_trials, save_study
from tests.unit.local.test_report_command import embedded_study

WIDE = 64
"""Parameters of the wide study: more than any plot draws axes for."""

Trials = list[tuple[dict[str, Any], TrialPhase, float | dict[str, float] | None]]


def wide_study(state: Path, count: int = 40) -> None:
    rng = np.random.default_rng(1)
    parameters = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(WIDE)]
    trials: Trials = []
    for _ in range(count):
        params = {f"x{i}": float(rng.uniform()) for i in range(WIDE)}
        trials.append((params, TrialPhase.SUCCEEDED, (params["x7"] - 0.2) ** 2))
    save_study(state, trials, parameters=parameters)


def non_finite_study(state: Path) -> None:
    """12 trials, the first three of which reported a finite value, then NaN, inf and -inf
    (as the runner writes them: text, named in ``nonFinite``). A record with non-finite
    values themselves (a cluster's) is test_figures' and test_dashboard_view's case."""
    trials = lr_driven_trials(12)
    for k in range(3):  # the local backend fails a trial whose last objective is not finite
        trials[k] = (trials[k][0], TrialPhase.FAILED, None)
    save_study(state, trials)
    for k, text in enumerate(["nan", "inf", "-inf"]):
        lines = [
            {"step": 1, "values": {"loss": 0.5}},
            {"step": 2, "values": {"loss": text}, "nonFinite": {"loss": text}},
        ]
        metrics = state / "s" / "trials" / str(k) / "metrics.jsonl"
        metrics.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture
def serve() -> Iterator[Any]:
    servers = []

    def start(state: Path) -> str:
        server = make_server(LocalSource(state), "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_64_parameter_study_reports_the_most_important_and_says_so(tmp_path: Path) -> None:
    wide_study(tmp_path)
    page = tmp_path / "r.html"
    assert main(["report", "s", "--state-dir", str(tmp_path), "-o", str(page)]) == 0
    notes = {f["key"]: f["note"] or "" for f in embedded_study(page)["figures"]}
    assert f"the 12 most important of {WIDE} parameters" in notes["parallel"]
    importance = next(f for f in embedded_study(page)["figures"] if f["key"] == "importance")
    assert len(importance["data"][0]["y"]) == WIDE


def test_a_64_parameter_study_ranks_every_parameter(tmp_path: Path, capsys: Any) -> None:
    wide_study(tmp_path)
    assert main(["importance", "s", "--state-dir", str(tmp_path), "--format", "json"]) == 0
    (objective,) = json.loads(capsys.readouterr().out)["objectives"]
    ranked = [i["parameter"] for i in objective["importances"]]
    assert len(ranked) == WIDE and ranked[0] == "x7"


def test_a_64_parameter_study_shows_in_the_dashboard(tmp_path: Path, serve: Any) -> None:
    wide_study(tmp_path)
    base = serve(tmp_path)
    status, body = fetch(f"{base}/api/studies/s/trials?limit=5")
    table = json.loads(body)
    assert status == 200 and len(table["rows"]) == 5
    assert sum(c["key"].startswith("param:") for c in table["columns"]) == WIDE
    status, html = fetch(f"{base}/studies/s/trials/0")
    assert status == 200 and "x63" in html


def test_non_finite_values_are_left_out_of_the_report(tmp_path: Path) -> None:
    non_finite_study(tmp_path)
    page = tmp_path / "r.html"
    assert main(["report", "s", "--state-dir", str(tmp_path), "-o", str(page)]) == 0
    study = embedded_study(page)  # strict JSON: json.loads would accept NaN, the page would not
    assert "NaN" not in page.read_text().split('id="kubetune-study">')[1]
    history = next(f for f in study["figures"] if f["key"] == "history")
    assert len(history["data"][0]["x"]) == 12 - 3


def test_non_finite_values_are_left_out_of_importance(tmp_path: Path, capsys: Any) -> None:
    non_finite_study(tmp_path)
    assert main(["importance", "s", "--state-dir", str(tmp_path), "--format", "json"]) == 0
    (objective,) = json.loads(capsys.readouterr().out)["objectives"]
    assert objective["trialsUsed"] == 12 - 3


def test_non_finite_values_leave_the_dashboard_readable(tmp_path: Path, serve: Any) -> None:
    non_finite_study(tmp_path)
    base = serve(tmp_path)
    status, body = fetch(f"{base}/api/studies/s/trials?sort=value:loss&limit=20")
    assert status == 200 and len(json.loads(body)["rows"]) == 12
    status, html = fetch(f"{base}/studies/s/trials/0")
    assert status == 200 and "Traceback" not in html and "kubetune.draw(" in html


def test_an_empty_study_and_one_of_failed_trials_show_in_the_dashboard(
    tmp_path: Path, serve: Any
) -> None:
    save_study(tmp_path, [])
    base = serve(tmp_path)
    status, body = fetch(f"{base}/api/studies/s")
    assert status == 200 and "no trial" in json.loads(body)["notice"]
    assert fetch(f"{base}/studies/s")[0] == 200
    failed = tmp_path / "failed"
    params = {"lr": 0.1, "optimizer": "sgd", "width": 8}
    save_study(failed, [(params, TrialPhase.FAILED, None)] * 2)
    status, body = fetch(f"{serve(failed)}/api/studies/s")
    assert status == 200 and "failed" in json.loads(body)["notice"]


def test_importance_of_an_unreachable_cluster_is_a_message(tmp_path: Path, capsys: Any) -> None:
    assert main(["importance", "s", "--cluster", "--kubeconfig", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
