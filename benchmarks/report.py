"""Report scale: how long `kubetune report` takes to build a page, and a browser to draw it.

The target (issue 14): a 10,000-trial study's report is generated in under 3 s and drawn in
under 3 s. This script builds synthetic study records (``tests.tools.records``: 8
parameters, learning curves, pruned, failed and running trials) of 1,000 and 10,000 trials
and times, median of several runs each:

- *generate*: record → HTML text, everything ``kubetune report`` does after reading the
  study (PED-ANOVA importance, the figures, the page with plotly.js inline);
- *draw*: headless Chromium opening the file until ``draw.js`` has drawn the last plot
  (``window.kubetuneDrawnAt``: milliseconds from navigation start, so parsing the page and
  plotly.js count too). Skipped when Chromium is missing (``make browser``).

    .venv/bin/python -m benchmarks.report [--trials 1000 10000] [--runs 5]

Not a test: it prints a table for docs/benchmarks.md ("Report").
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kubetune.figures import study_figures
from kubetune.report import report_html
from tests.browser.chromium import browser, missing, open_drawn
from tests.tools.records import synthetic_record


def generate_seconds(trials: int, runs: int, objectives: int) -> tuple[float, str]:
    record = synthetic_record(trials, objectives=objectives)
    times, page = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        page = report_html(study_figures(record))
        times.append(time.perf_counter() - start)
    return statistics.median(times), page


def draw_seconds(page: Path, runs: int) -> float:
    with browser() as driver:
        return statistics.median(open_drawn(driver, page) / 1000 for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    no_browser = missing()
    print("| trials | objectives | page size | generate (median) | draw in Chromium (median) |")
    print("|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for trials in args.trials:
            for objectives in (1, 2):
                seconds, text = generate_seconds(trials, args.runs, objectives)
                page = Path(folder) / f"report-{trials}-{objectives}.html"
                page.write_text(text, encoding="utf-8")
                drawn = "n/a" if no_browser else f"{draw_seconds(page, args.runs):.2f} s"
                size = f"{len(text.encode()) / 1e6:.1f} MB"
                print(f"| {trials:,} | {objectives} | {size} | {seconds:.2f} s | {drawn} |")
    if no_browser:
        print(f"\ndraw times skipped: {no_browser}")


if __name__ == "__main__":
    main()
