"""Report scale: how long `kubetune report` takes to build a page, and a browser to draw it.

The target (issue 14): a 10,000-trial study's report is generated in under 3 s and drawn in
under 3 s. This script builds synthetic study records (``tests.tools.records``: 8
parameters, learning curves, pruned, failed and running trials) of 1,000 and 10,000 trials
and times, median of several runs each:

- *generate*: record → HTML text, everything ``kubetune report`` does after reading the
  study (PED-ANOVA importance, the figures, the page with plotly.js inline);
- *draw*: headless Chromium opening the file until ``draw.js`` has drawn the last plot
  (``window.kubetuneDrawnAt``: milliseconds from navigation start, so parsing the page and
  plotly.js count too). Skipped when Chromium is missing (``make browser``);
- the first row, ``plotly.js alone``, is a page with plotly.js and no plot: the part of
  the draw time that any page using plotly.js pays;
- *browser CPU*: the CPU seconds every Chromium process (renderer, GPU emulation) spent on
  that, from /proc: on a busy machine wall-clock draw times mostly measure the other
  processes, CPU time does not.

    .venv/bin/python -m benchmarks.report [--trials 1000 10000] [--runs 5]

Not a test: it prints a table for docs/benchmarks.md ("Report").
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from kubetune.figures import study_figures
from kubetune.report import plotly_js, report_html
from tests.browser.chromium import browser, missing, open_drawn
from tests.tools.records import synthetic_record

BARE_PAGE = """<!DOCTYPE html><html><head><script>{plotly}</script></head>
<body><script>window.kubetuneDrawnAt = performance.now();</script></body></html>"""
"""A page with plotly.js and no plot: the floor every report's draw time stands on."""


def generate_seconds(trials: int, runs: int, objectives: int) -> tuple[float, str]:
    record = synthetic_record(trials, objectives=objectives)
    times, page = [], ""
    for _ in range(runs):
        start = time.perf_counter()
        page = report_html(study_figures(record))
        times.append(time.perf_counter() - start)
    return statistics.median(times), page


def draw_seconds(page: Path, runs: int) -> tuple[float, float]:
    """Median wall-clock draw time and median CPU seconds of the browser's processes."""
    walls, cpus = [], []
    with browser() as driver:
        root = driver.service.process.pid
        for _ in range(runs):
            before = browser_cpu_seconds(root)
            walls.append(open_drawn(driver, page) / 1000)
            cpus.append(browser_cpu_seconds(root) - before)
    return statistics.median(walls), statistics.median(cpus)


def browser_cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root``'s descendant processes (chromedriver's browser)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == root:
                return True
        return False

    return sum(t for pid, t in times.items() if descends(pid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    no_browser = missing()
    print("| trials | objectives | page size | generate | draw in Chromium | browser CPU |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        if not no_browser:
            bare = Path(folder) / "plotly-only.html"
            bare.write_text(BARE_PAGE.format(plotly=plotly_js()), encoding="utf-8")
            wall, busy = draw_seconds(bare, args.runs)
            size = f"{bare.stat().st_size / 1e6:.1f} MB"
            print(f"| plotly.js alone | | {size} | | {wall:.2f} s | {busy:.2f} s |")
        for trials in args.trials:
            for objectives in (1, 2):
                seconds, text = generate_seconds(trials, args.runs, objectives)
                page = Path(folder) / f"report-{trials}-{objectives}.html"
                page.write_text(text, encoding="utf-8")
                drawn = cpu = "n/a"
                if not no_browser:
                    wall, busy = draw_seconds(page, args.runs)
                    drawn, cpu = f"{wall:.2f} s", f"{busy:.2f} s"
                size = f"{len(text.encode()) / 1e6:.1f} MB"
                row = [f"{trials:,}", str(objectives), size, f"{seconds:.2f} s", drawn, cpu]
                print(f"| {' | '.join(row)} |")
    load = os.getloadavg()[0]
    print(f"\nmedians of {args.runs} runs; load average {load:.1f} on {os.cpu_count()} CPUs")
    if no_browser:
        print(f"draw times skipped: {no_browser}")


if __name__ == "__main__":
    main()
