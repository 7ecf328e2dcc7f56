"""``python -m tests.browser.screenshot REPORT.html IMAGE.png``: the README's picture."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.browser.chromium import missing, screenshot

if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tests.browser.screenshot REPORT.html IMAGE.png")
    if why := missing():
        raise SystemExit(why)
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
