"""`kubetune report`: a self-contained page for a local study, and clear words when it cannot."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.report import _assets
from tests.unit.local.test_importance_command import lr_driven_trials, save_study


def report(state: Path, *extra: str) -> int:
    return main(["report", "s", "--state-dir", str(state), *extra])


def embedded_study(page: Path) -> dict[str, Any]:
    text = page.read_text()
    match = re.search(r'<script type="application/json" id="kubetune-study">(.*?)</script>', text)
    assert match, "the study's JSON is in the page"
    return dict(json.loads(match.group(1)))


def test_a_study_becomes_one_page_that_fetches_nothing(tmp_path: Path, capsys: Any) -> None:
    save_study(tmp_path, lr_driven_trials(30))
    page = tmp_path / "r.html"
    assert report(tmp_path, "-o", str(page)) == 0
    assert capsys.readouterr().out == f"wrote {page}: 7 plots of 30 trials\n"
    text = page.read_text()
    assert "<script src" not in text and "<link" not in text, "everything is inline"
    assert "plotly.js v" in text and "kubetune.render(" in text
    study = embedded_study(page)
    assert study["overview"]["name"] == "s"
    assert [f["key"] for f in study["figures"]][:3] == ["history", "importance", "parallel"]


def test_the_default_file_is_named_after_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_study(tmp_path, lr_driven_trials(5))
    monkeypatch.chdir(tmp_path)
    assert report(tmp_path) == 0
    assert (tmp_path / "s-report.html").is_file()


def test_an_unknown_study_is_named(tmp_path: Path, capsys: Any) -> None:
    assert report(tmp_path) == 1
    assert f"error: no local study 's' under {tmp_path}" in capsys.readouterr().err


def test_an_empty_study_still_gets_a_page_that_says_so(tmp_path: Path) -> None:
    save_study(tmp_path, [])
    page = tmp_path / "r.html"
    assert report(tmp_path, "-o", str(page)) == 0
    notes = [f["note"] for f in embedded_study(page)["figures"]]
    assert "no trial has run yet" in notes


def test_only_failed_trials_fill_the_failures_table(tmp_path: Path) -> None:
    save_study(tmp_path, [({"lr": 0.1, "optimizer": "sgd", "width": 8}, TrialPhase.FAILED, None)])
    page = tmp_path / "r.html"
    assert report(tmp_path, "-o", str(page)) == 0
    (failures,) = embedded_study(page)["tables"]
    assert failures["note"] == "1 failed trials" and len(failures["rows"]) == 1


def test_without_plotly_the_error_names_the_extra(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_study(tmp_path, lr_driven_trials(5))
    monkeypatch.setattr(_assets.importlib.util, "find_spec", lambda name: None)
    _assets.plotly_js.cache_clear()
    try:
        assert report(tmp_path, "-o", str(tmp_path / "r.html")) == 1
    finally:
        _assets.plotly_js.cache_clear()
    assert "pip install 'kubetune[report]'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_an_unwritable_output_is_named(tmp_path: Path, capsys: Any) -> None:
    save_study(tmp_path, lr_driven_trials(5))
    target = tmp_path / "no-such-folder" / "r.html"
    assert report(tmp_path, "-o", str(target)) == 1
    assert f"error: cannot write {target}" in capsys.readouterr().err


def test_an_unreachable_cluster_is_a_message(tmp_path: Path, capsys: Any) -> None:
    assert main(["report", "s", "--cluster", "--kubeconfig", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.startswith("error: ")
