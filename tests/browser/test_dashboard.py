"""The dashboard in headless Chromium, over a local study that runs while the page is open.

The page must draw without a JavaScript error, sort and filter its trial table, and follow
the study without being reloaded: rows appear as trials start and turn Succeeded as they end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kubetune.dashboard.server import LocalSource, make_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HERE = Path(__file__).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TRIALS = 6
PARALLEL = 2
WAIT_SECONDS = 90
"""How long to wait for the page to show what the study did (a slow CI machine)."""

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def study_document(gate: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubetune.dev/v1alpha1",
        "kind": "TuningStudy",
        "metadata": {"name": "live"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
            "budget": {"maxTrials": TRIALS, "parallelTrials": PARALLEL},
            "seed": 3,
            "trialTemplate": {
                "job": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "train",
                                    "command": [sys.executable, "gated_trial.py"],
                                    "args": ["--x=${params.x}", f"--gate={gate}"],
                                }
                            ]
                        }
                    }
                }
            },
        },
    }


@pytest.fixture
def running_study(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A local study running in another process; its trials wait for the gate file."""
    workdir = tmp_path / "study"
    workdir.mkdir()
    shutil.copy(HERE / "gated_trial.py", workdir)
    gate = tmp_path / "gate"
    manifest = workdir / "live.yaml"
    manifest.write_text(yaml.safe_dump(study_document(gate)))
    state = tmp_path / "state"
    run = [sys.executable, "-c", "import sys; from kubetune.cli import main; sys.exit(main())"]
    process = subprocess.Popen(
        [*run, "run", str(manifest), "--state-dir", str(state)],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield state, gate
    finally:
        gate.touch()
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def dashboard(running_study: tuple[Path, Path]) -> Iterator[str]:
    state, _ = running_study
    server = make_server(LocalSource(state), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def rows(driver: object) -> list[list[str]]:
    """The trial table as text, cell by cell, read at once (the page redraws it every poll)."""
    return driver.execute_script(  # type: ignore[attr-defined, no-any-return]
        "return [...document.querySelectorAll('#trials tbody tr')]"
        ".map(r => [...r.cells].map(c => c.textContent))"
    )


def click_header(driver: object, key: str) -> None:
    """Click a column's header as a person would (found afresh: the page redraws it)."""
    driver.execute_script(  # type: ignore[attr-defined]
        "document.querySelector(`th[data-key='${arguments[0]}']`).click()", key
    )


def until(driver: object, what: str, check: object) -> None:
    WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2).until(
        lambda d: check(d),
        message=what,  # type: ignore[operator]
    )


def test_the_study_page_follows_a_live_study(
    dashboard: str, running_study: tuple[Path, Path], browser: object
) -> None:
    state, gate = running_study
    driver = browser
    until(driver, "the study exists", lambda d: (state / "live" / "study.json").exists())
    driver.get(f"{dashboard}/studies/live")  # type: ignore[attr-defined]
    marker = driver.execute_script("window.notReloaded = true; return 1")  # type: ignore[attr-defined]
    assert marker == 1

    until(driver, "two running trials", lambda d: [r[1] for r in rows(d)] == ["Running"] * 2)

    gate.touch()
    until(driver, "every trial listed", lambda d: len(rows(d)) == TRIALS)
    until(driver, "every trial succeeded", lambda d: {r[1] for r in rows(d)} == {"Succeeded"})
    assert driver.execute_script("return window.notReloaded === true")  # type: ignore[attr-defined]

    losses = [float(r[2]) for r in rows(driver)]
    click_header(driver, "value:loss")
    until(driver, "rows sorted by loss", lambda d: [float(r[2]) for r in rows(d)] == sorted(losses))
    click_header(driver, "value:loss")
    until(
        driver,
        "rows sorted by loss, descending",
        lambda d: [float(r[2]) for r in rows(d)] == sorted(losses, reverse=True),
    )

    best = min(losses)
    driver.find_element(By.ID, "top").send_keys("1")  # type: ignore[attr-defined]
    until(driver, "only the best trial", lambda d: [float(r[2]) for r in rows(d)] == [best])
    driver.find_element(By.ID, "top").clear()  # type: ignore[attr-defined]
    driver.find_element(By.ID, "filter").send_keys("no trial says this")  # type: ignore[attr-defined]
    until(driver, "no row matches the filter", lambda d: rows(d) == [])

    errors = [
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE"
    ]
    assert errors == []


def test_a_trial_page_draws_its_curve_with_the_served_plotly_js(
    tmp_path: Path, browser: object
) -> None:
    from kubetune.api.trial import TrialPhase
    from kubetune.local.store import LocalTrial
    from tests.tools.dashboard_studies import write_local_study

    reports = [{"step": s, "values": {"loss": 1.0 / s, "acc": s / 10}} for s in range(1, 6)]
    pruned = LocalTrial(0, {"lr": 0.1}, phase=TrialPhase.PRUNED, message="rung 0 </script>")
    write_local_study(tmp_path, "curves", [(pruned, reports)])
    server = make_server(LocalSource(tmp_path), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = browser
    try:
        port = server.server_address[1]
        driver.get(f"http://127.0.0.1:{port}/studies/curves/trials/0")  # type: ignore[attr-defined]
        until(
            driver,
            "the curve drawn",
            lambda d: d.execute_script("return window.kubetuneDrawnAt !== undefined"),
        )
        traces = driver.execute_script(  # type: ignore[attr-defined]
            "const gd = document.querySelector('#kubetune-trial .js-plotly-plot');"
            "return gd.data.map(t => [t.name, t.x.length, t.visible !== 'legendonly']);"
        )
    finally:
        server.shutdown()
        server.server_close()
    assert traces == [["loss", 5, True], ["acc", 5, False], ["cut here", 1, True]]
    errors = [
        entry
        for entry in driver.get_log("browser")  # type: ignore[attr-defined]
        if entry["level"] == "SEVERE"
    ]
    assert errors == []
