"""The report page: one HTML file with every script, style and the study's data inline.

The study's figures go in as a JSON ``<script>`` block (``<`` escaped, so no text in a trial
message can close the tag or open another), and ``draw.js`` draws them when the page loads.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from pathlib import Path

from kubetune import __version__
from kubetune.figures import StudyFigures, study_figures
from kubetune.record import StudyRecord
from kubetune.report._assets import draw_js, page_css, plotly_js

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
<script>{plotly}</script>
<script>{draw}</script>
</head>
<body>
<main id="kubetune-report"></main>
<footer>{footer}</footer>
<script type="application/json" id="kubetune-study">{study}</script>
<script>
kubetune.render(document.getElementById("kubetune-report"),
                JSON.parse(document.getElementById("kubetune-study").textContent));
</script>
</body>
</html>
"""


def study_json(figures: StudyFigures) -> str:
    """The figures as strict JSON safe inside a ``<script>`` element."""
    text = json.dumps(figures.to_json(), allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c")


def report_html(figures: StudyFigures, generated: datetime | None = None) -> str:
    """The whole page for ``figures``; ``PlotlyMissing`` without the report extra."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    name = figures.overview.name
    return PAGE.format(
        title=html.escape(f"{name} — kubetune report"),
        css=page_css(),
        plotly=plotly_js(),
        draw=draw_js(),
        footer=html.escape(f"kubetune {__version__} report of {name}, generated {when}"),
        study=study_json(figures),
    )


def write_report(record: StudyRecord, path: Path) -> StudyFigures:
    """Write the report of ``record`` to ``path``; returns the figures it drew."""
    plotly_js()  # fail before the work when the extra is missing
    figures = study_figures(record)
    path.write_text(report_html(figures), encoding="utf-8")
    return figures
