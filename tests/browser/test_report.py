"""The report in a real browser (headless Chromium): every plot drawn with the trials it
should hold, no JavaScript error, and the Pareto plot for several objectives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubetune.api.trial import TrialPhase
from kubetune.cli import main
from kubetune.figures import FigureLimits
from kubetune.local.backend import LocalOptions, LocalStudy
from kubetune.local.reader import read_local_study
from kubetune.report import write_report
from kubetune.validation import parse_study
from tests.browser.chromium import browser, console_errors, missing, open_drawn
from tests.tools.records import pbt_record, synthetic_record

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(missing() is not None, reason=missing() or ""),
]

FAKE_TRIAL = Path(__file__).parents[1] / "unit" / "local" / "fake_trial.py"

STUDY: dict[str, Any] = {
    "apiVersion": "kubetune.dev/v1alpha1",
    "kind": "TuningStudy",
    "metadata": {"name": "seen"},
    "spec": {
        "objective": {"metric": "loss", "direction": "minimize"},
        "parameters": [
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "width", "type": "int", "low": 1, "high": 8},
            {"name": "code", "type": "categorical", "choices": [0, 3]},
        ],
        "algorithm": {"name": "random"},
        "budget": {"maxTrials": 10, "parallelTrials": 3, "maxFailedTrials": 10},
        "seed": 3,
        "trialTemplate": {
            "job": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "train",
                                "command": ["python", FAKE_TRIAL.name],
                                "args": [
                                    "--x=${params.x}",
                                    "--steps=3",
                                    "--exit-code=${params.code}",
                                ],
                            }
                        ]
                    }
                }
            }
        },
    },
}


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    with browser() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def local_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The report of a real local study: trial processes, some of them failing."""
    state = tmp_path_factory.mktemp("state")
    study = LocalStudy(
        parse_study(STUDY),
        LocalOptions(state_dir=state, workdir=FAKE_TRIAL.parent, poll_seconds=0.02),
    )
    study.open()
    study.run(lambda view: None)
    page = state / "seen.html"
    assert main(["report", "seen", "--state-dir", str(state), "-o", str(page)]) == 0
    record = read_local_study(state, "seen")
    succeeded = sum(t.phase is TrialPhase.SUCCEEDED for t in record.trials)
    failed = sum(t.phase is TrialPhase.FAILED for t in record.trials)
    assert succeeded and failed, "the study should have both (code 3 fails)"
    return page, {"succeeded": succeeded, "failed": failed}


def drawn_figures(driver: Any) -> list[dict[str, Any]]:
    """What plotly.js drew: per plot, its section's key and each trace's type and points."""
    script = """
      return Array.from(document.querySelectorAll('.js-plotly-plot')).map(gd => ({
        key: gd.closest('section').dataset.key,
        traces: gd.data.map(t => ({
          type: t.type || 'scatter',
          points: t.x ? t.x.filter(v => v !== null).length
                : (t.dimensions ? t.dimensions[0].values.length : 0)})),
      }));"""
    return list(driver.execute_script(script))


def test_a_local_study_draws_every_plot_without_errors(
    driver: Any, local_report: tuple[Path, dict[str, Any]]
) -> None:
    page, counts = local_report
    open_drawn(driver, page)
    assert console_errors(driver) == []
    study = json.loads(
        driver.execute_script("return document.getElementById('kubetune-study').textContent")
    )
    expected = [f["key"] for f in study["figures"]]
    drawn = drawn_figures(driver)
    assert [d["key"] for d in drawn] == expected
    for figure, seen in zip(study["figures"], drawn, strict=True):
        assert len(seen["traces"]) == len(figure["data"]), figure["key"]
    history = drawn[0]
    assert history["key"] == "history"
    assert history["traces"][0]["points"] == counts["succeeded"]
    rows = driver.execute_script(
        "return document.querySelectorAll('section[data-key=failures] tr').length"
    )
    assert rows - 1 == counts["failed"]  # the header row and one per failed trial
    assert "seen" in driver.find_element("css selector", ".kt-overview h1").text


def test_two_objectives_show_the_pareto_front(driver: Any, tmp_path: Path) -> None:
    page = tmp_path / "pareto.html"
    figures = write_report(synthetic_record(400, objectives=2), page)
    open_drawn(driver, page)
    assert console_errors(driver) == []
    drawn = {d["key"]: d for d in drawn_figures(driver)}
    assert {"pareto", "hypervolume"} <= drawn.keys()
    others, front = drawn["pareto"]["traces"]
    expected = figures.figure("pareto").data
    assert (others["points"], front["points"]) == (len(expected[0]["x"]), len(expected[1]["x"]))


def test_a_big_study_draws_bounded_plots_that_say_so(driver: Any, tmp_path: Path) -> None:
    page = tmp_path / "big.html"
    figures = write_report(synthetic_record(5000, objectives=2), page)
    open_drawn(driver, page)
    assert console_errors(driver) == []
    drawn = {d["key"]: d for d in drawn_figures(driver)}
    limits = FigureLimits()
    assert drawn["history"]["traces"][0]["points"] == limits.history_points
    assert all(t["type"] != "scattergl" for d in drawn.values() for t in d["traces"])
    axes = len(figures.figure("parallel").layout["shapes"])
    lines = sum(t["points"] for t in drawn["parallel"]["traces"]) / axes
    assert lines == limits.lines
    assert drawn["pareto"]["traces"][0]["points"] == limits.pareto_points
    bars = sum(t["points"] for t in drawn["timeline"]["traces"]) / 2  # start and end
    assert bars == limits.timeline_bars
    notes = driver.execute_script(
        "return Array.from(document.querySelectorAll('section[data-key] .kt-note'))"
        ".map(n => [n.parentNode.dataset.key, n.textContent])"
    )
    said = dict(notes)
    for key in ("history", "parallel", "slice", "intermediate", "timeline"):
        assert " trials shown" in said[key], key
    assert "every front trial shown" in said["pareto"]


def test_a_conditional_parameter_draws_without_errors(driver: Any, tmp_path: Path) -> None:
    page = tmp_path / "conditional.html"
    write_report(synthetic_record(300, conditional=True), page)
    open_drawn(driver, page)
    assert console_errors(driver) == []
    assert "parallel" in {d["key"] for d in drawn_figures(driver)}


def test_a_message_with_html_is_shown_as_text(driver: Any, tmp_path: Path) -> None:
    page = tmp_path / "html.html"
    write_report(synthetic_record(100), page)
    open_drawn(driver, page)
    cells = driver.execute_script(
        "return Array.from(document.querySelectorAll('.kt-table td')).map(td => td.textContent)"
    )
    assert any("<b>not bold</b>" in cell for cell in cells)
    assert driver.execute_script("return document.querySelectorAll('.kt-table b').length") == 0


def test_a_population_draws_its_lineage(driver: Any, tmp_path: Path) -> None:
    page = tmp_path / "pbt.html"
    figures = write_report(pbt_record(members=4, generations=5), page)
    open_drawn(driver, page)
    assert console_errors(driver) == []
    drawn = {d["key"]: d for d in drawn_figures(driver)}
    lineage = drawn["lineage"]["traces"]
    assert len(lineage) == 4 + 1  # a line per member, and the exploit connectors
    expected = figures.figure("lineage").data
    assert [t["points"] for t in lineage] == [
        len([x for x in d["x"] if x is not None]) for d in expected
    ]
    schedule = drawn["lineage-schedule"]["traces"]
    assert len(schedule) == len(figures.figure("lineage-schedule").data) == 2  # p0 and kind
