"""A study's plots as plain data: what ``kubetune report`` and ``kubetune dashboard`` draw.

``study_figures(record)`` turns a ``StudyRecord`` into a ``StudyFigures``: the overview (name,
source, algorithm, trials by phase, best trial or front), every plot as a plotly.js figure
(``data`` + ``layout`` of dicts and lists), and the failures table. ``to_json()`` gives the
one JSON document a page draws with ``kubetune/report/draw.js``. Nothing here imports a
plotting library or does I/O, so building the figures is fast and testable, and the same
figures serve a static report and a live dashboard.

The plots, in page order (``Figure.key``): ``history`` (per objective), ``importance``,
``parallel``, ``slice``, ``contour`` (up to three pairs), ``intermediate``, ``lineage`` and
``lineage-schedule`` (population-based training only), ``pareto`` and ``hypervolume``
(several objectives), ``timeline``. A plot with nothing to draw is still
there, empty, saying why; a plot that had to thin a big study says how in its ``note``.
``trial_figure(record, trial)`` is one trial's curves, for the dashboard's trial page.
``FigureLimits`` holds every bound that keeps a 10,000-trial study fast to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubetune.engine import Planner, TrialSnapshot
from kubetune.figures._figure import Figure, Json, Table
from kubetune.figures._lineage import has_lineage, lineage_figures
from kubetune.figures._overview import Overview, failures_table, overview
from kubetune.figures._parallel import parallel_figure
from kubetune.figures._parameters import (
    ContourLimits,
    contour_figures,
    importance_figure,
    ranked_parameters,
    slice_figure,
)
from kubetune.figures._pareto import hypervolume_figure, pareto_figure
from kubetune.figures._progress import history_figures, intermediate_figure, timeline_figure
from kubetune.figures._trial import TRIAL_CURVE, trial_figure, trial_metrics
from kubetune.figures._trials import scored_trials
from kubetune.importance import ImportanceMethod, ObjectiveImportance, parameter_importance
from kubetune.record import StudyRecord

__all__ = [
    "TRIAL_CURVE",
    "Figure",
    "FigureLimits",
    "Overview",
    "StudyFigures",
    "Table",
    "study_figures",
    "study_importance",
    "trial_figure",
    "trial_metrics",
]


@dataclass(frozen=True)
class FigureLimits:
    """How much a plot draws at most: the bounds that keep 10,000 trials fast in a browser."""

    history_points: int = 1000
    """Trials drawn as points in each optimization history (the best and an even spread of
    the rest; the best-so-far line is exact). Above about 1,000 points SVG slows down, and
    WebGL (plotly's ``scattergl``) costs more than it saves in a browser without a GPU."""
    lines: int = 500
    """Trials drawn in parallel coordinates (the best and an even spread of the rest)."""
    points: int = 300
    """Trials drawn in each slice: up to twelve small plots of SVG points, the page's
    slowest plot (its cost is mostly the subplots' axes, then the points)."""
    curves: int = 300
    """Learning curves drawn in the intermediate-values plot."""
    axes: int = 12
    """Parameters drawn in parallel coordinates and slices: the most important ones."""
    contour_pairs: int = 3
    """Pairs of the most important numeric parameters given a contour plot."""
    contour_parameters: int = 3
    """The most important numeric parameters whose pairs get contour plots."""
    contour_cells: int = 30
    """Cells along each axis of a contour plot."""
    contour_points: int = 300
    """Trials drawn as dots over each contour (the surface itself uses every trial)."""
    pareto_points: int = 1000
    """Trials off the Pareto front drawn with it (an even spread); the front is drawn whole."""
    hypervolume_points: int = 100
    """Points along the study at which the hypervolume history is computed."""
    timeline_bars: int = 1000
    """Trials drawn as bars in the timeline (an even spread in trial order)."""
    failures: int = 200
    """Rows of the failures table."""


@dataclass(frozen=True)
class StudyFigures:
    """Everything a report shows of one study, ready to be serialized and drawn."""

    overview: Overview
    figures: tuple[Figure, ...]
    failures: Table

    def figure(self, key: str) -> Figure:
        """The figure called ``key``; KeyError names the keys there are."""
        for figure in self.figures:
            if figure.key == key:
                return figure
        raise KeyError(f"no figure {key!r}; there are {[f.key for f in self.figures]}")

    def to_json(self) -> dict[str, Json]:
        """The document ``draw.js`` reads: strict JSON (no NaN or infinity anywhere)."""
        return {
            "overview": self.overview.to_json(),
            "figures": [f.to_json() for f in self.figures],
            "tables": [self.failures.to_json()],
        }


def study_importance(record: StudyRecord) -> tuple[ObjectiveImportance, ...]:
    """PED-ANOVA importance per objective of the record's trials, as `kubetune importance`."""
    planner = Planner(record.spec, record.name)
    trials = [TrialSnapshot(t.index, t.params, t.phase, t.values) for t in record.trials]
    return parameter_importance(
        planner.space, planner.history(trials), ImportanceMethod.PED_ANOVA, planner.seed
    )


def study_figures(
    record: StudyRecord,
    importance: Sequence[ObjectiveImportance] | None = None,
    limits: FigureLimits | None = None,
) -> StudyFigures:
    """The overview, plots and failures of ``record``; ``importance`` is computed (PED-ANOVA)
    when not given, e.g. by a dashboard that caches it."""
    limits = limits or FigureLimits()
    importance = study_importance(record) if importance is None else importance
    scored = scored_trials(record)
    ranked = ranked_parameters(record, importance)
    figures = [
        *history_figures(record, scored, limits.history_points),
        importance_figure(record, importance),
        parallel_figure(record, scored, ranked, limits.lines, limits.axes),
        slice_figure(record, scored, ranked, limits.points, limits.axes),
        *contour_figures(
            record,
            scored,
            ranked,
            ContourLimits(
                limits.contour_pairs,
                limits.contour_parameters,
                limits.contour_cells,
                limits.contour_points,
            ),
        ),
        intermediate_figure(record, limits.curves),
    ]
    if has_lineage(record):
        figures += lineage_figures(record)
    if record.spec.is_multi_objective:
        figures += [
            pareto_figure(record, scored, limits.pareto_points),
            hypervolume_figure(record, scored, limits.hypervolume_points),
        ]
    figures.append(timeline_figure(record, limits.timeline_bars))
    return StudyFigures(overview(record), tuple(figures), failures_table(record, limits.failures))
