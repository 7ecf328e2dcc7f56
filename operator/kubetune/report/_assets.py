"""The files a report page inlines: plotly.js from the ``plotly`` package, and our own.

plotly.js is read from the installed Python package's ``package_data`` without importing
plotly (whose import alone takes a second), found through its import spec. Without it, the
error says which extra to install.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from importlib import resources
from pathlib import Path

PLOTLY_BUNDLE = Path("package_data") / "plotly.min.js"
"""Where the ``plotly`` Python package keeps the minified plotly.js it ships."""


class PlotlyMissing(RuntimeError):
    """The ``plotly`` package (the ``kubetune[report]`` extra) is not installed."""


@cache
def plotly_js() -> str:
    """The text of plotly.min.js shipped by the installed ``plotly`` package."""
    spec = importlib.util.find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        bundle = Path(location) / PLOTLY_BUNDLE
        if bundle.is_file():
            return bundle.read_text(encoding="utf-8")
    raise PlotlyMissing(
        "reports draw their plots with plotly.js, which comes with the plotly package: "
        "pip install 'kubetune[report]'"
    )


@cache
def draw_js() -> str:
    """``draw.js``: draws a study's figures JSON; shared by the report and the dashboard."""
    return resources.files(__package__).joinpath("draw.js").read_text(encoding="utf-8")


@cache
def page_css() -> str:
    return resources.files(__package__).joinpath("page.css").read_text(encoding="utf-8")
