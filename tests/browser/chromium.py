"""Headless Chromium for the browser tests, the report benchmark and the docs' screenshots.

Debian's ``chromium`` and ``chromium-driver`` (installed by ``make browser``, see
``browser.mk``) driven by selenium. Every launch gets a fresh profile and the flags that keep
a headless browser quiet and self-contained: no sandbox (CI runs as root), no GPU, no
background network, no updates or sync.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)

DRAW_TIMEOUT_SECONDS = 60
"""How long a page may take to draw every plot before a test gives up (a loaded CI machine)."""


def missing() -> str | None:
    """Why no browser test can run here, or None when Chromium and its driver are present."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return f"{CHROMIUM} or {CHROMEDRIVER} is missing: run `make browser` (Debian packages)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


@contextmanager
def browser(width: int = 1400, height: int = 1000, scale: float = 1.0) -> Iterator[Any]:
    """A headless Chromium under chromedriver, with a fresh profile removed afterwards;
    ``scale`` device pixels per CSS pixel (below 1 for smaller screenshots)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="kubetune-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    sized = (f"--window-size={width},{height}", f"--force-device-scale-factor={scale}")
    for flag in (*FLAGS, f"--user-data-dir={profile}", *sized):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_drawn(driver: Any, page: Path) -> float:
    """Open ``page`` and wait until ``draw.js`` has drawn every plot; returns the draw time
    the page recorded (milliseconds from navigation start to the last plot drawn)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, DRAW_TIMEOUT_SECONDS).until(
        lambda d: d.execute_script("return window.kubetuneDrawnAt !== undefined")
    )
    return float(driver.execute_script("return window.kubetuneDrawnAt"))


def console_errors(driver: Any) -> list[str]:
    """The page's JavaScript console messages at error level."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


WINDOW_FRAME = 120
"""Pixels a headless window's size includes beyond its page area; added to see the bottom."""


SCREENSHOT_SCALE = 0.8
"""Device pixels per CSS pixel of screenshots: keeps docs/report.png under 500 KB."""


def screenshot(page: Path, image: Path, width: int = 1200) -> None:
    """A full-page PNG of ``page`` once drawn: the window is grown to the page's height."""
    with browser(width, scale=SCREENSHOT_SCALE) as driver:
        open_drawn(driver, page)
        for _ in range(2):  # the plots reflow to the new size, and the page grows with them
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, int(height) + WINDOW_FRAME)
        driver.execute_script("return new Promise(r => requestAnimationFrame(() => r()))")
        driver.save_screenshot(str(image))
