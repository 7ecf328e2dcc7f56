"""The figures of a report, built from records in memory: every plot there, bad input
explained inside the plot, big studies thinned and saying so, strict JSON always."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.attributes import LineageAttribute
from kubetune.api.trial import TrialPhase
from kubetune.figures import Figure, FigureLimits, StudyFigures, study_figures, trial_figure
from kubetune.figures._figure import spread, thin
from kubetune.history import IntermediateValue
from kubetune.record import RecordedTrial
from tests.tools.records import START, pbt_record, record_of, synthetic_record


def strict_json(figures: StudyFigures) -> dict[str, object]:
    """The document a page draws; raises on NaN or infinity anywhere in it."""
    return json.loads(json.dumps(figures.to_json(), allow_nan=False))


def trial(index: int, phase: TrialPhase = TrialPhase.SUCCEEDED, **fields: object) -> RecordedTrial:
    params = {"p0": 0.01 * (index + 1), "kind": "a"}
    values = {"loss": float(index)} if phase is TrialPhase.SUCCEEDED else {}
    return RecordedTrial(index=index, params=params, phase=phase, values=values, **fields)  # type: ignore[arg-type]


def test_a_study_draws_every_plot_in_page_order() -> None:
    figures = study_figures(synthetic_record(200))
    keys = [f.key for f in figures.figures]
    assert keys[:5] == ["history", "importance", "parallel", "slice", "contour"]
    assert keys[-2:] == ["intermediate", "timeline"]
    assert "pareto" not in keys
    document = strict_json(figures)
    assert document["overview"]["name"] == "synthetic"  # type: ignore[index]
    assert all(f.data for f in figures.figures), "no plot of a healthy study is empty"


def test_the_best_so_far_line_never_gets_worse() -> None:
    history = study_figures(synthetic_record(300)).figure("history")
    best = history.data[1]["y"]
    assert all(b <= a for a, b in itertools.pairwise(best))
    assert best[-1] == min(history.data[0]["y"])


def test_an_empty_study_explains_every_plot() -> None:
    figures = study_figures(record_of([]))
    assert [f.data for f in figures.figures] == [[] for _ in figures.figures]
    history = figures.figure("history")
    assert history.note == "no trial has run yet"
    assert history.layout["annotations"][0]["text"] == "no trial has run yet"
    assert figures.figure("timeline").note == "no trial has started yet"
    assert figures.overview.result == [("result", "no trial has succeeded yet")]
    strict_json(figures)


def test_a_study_of_only_failed_trials_lists_them_with_their_messages() -> None:
    failed = [
        trial(i, TrialPhase.FAILED, reason="Error", message=f"boom {i}", exit_code=2)
        for i in range(3)
    ]
    figures = study_figures(record_of(failed))
    assert figures.figure("history").note == (
        "no trial has succeeded with finite objective values yet (3 failed)"
    )
    assert figures.failures.rows == [[str(i), "Error", "2", f"boom {i}"] for i in range(3)]
    assert figures.failures.note == "3 failed trials"
    importance = figures.figure("importance")
    assert importance.note == "no completed trial has a finite value of 'loss' yet"


def test_non_finite_values_are_left_out_not_drawn() -> None:
    trials = [trial(i) for i in range(6)]
    trials.append(
        RecordedTrial(6, {"p0": 0.5, "kind": "b"}, TrialPhase.SUCCEEDED, values={"loss": math.nan})
    )
    trials.append(
        RecordedTrial(7, {"p0": 0.6, "kind": "b"}, TrialPhase.SUCCEEDED, values={"loss": math.inf})
    )
    figures = study_figures(record_of(trials))
    assert figures.figure("history").data[0]["x"] == [0, 1, 2, 3, 4, 5]
    strict_json(figures)


def test_a_conditional_parameter_is_left_out_where_it_was_inactive() -> None:
    figures = study_figures(synthetic_record(200, conditional=True))
    parallel = figures.figure("parallel")
    names = [a["text"] for a in parallel.layout["annotations"] if a["text"].startswith("<b>")]
    depth = names.index("<b>depth</b>")
    on_axis = [y for d in parallel.data for x, y in zip(d["x"], d["y"], strict=True) if x == depth]
    assert None in on_axis and any(y is not None for y in on_axis)
    strict_json(figures)


def trials_drawn(parallel: Figure) -> int:
    """Lines in a parallel-coordinates figure: each trial's line ends with a gap."""
    return sum(d["x"].count(None) for d in parallel.data)


def test_parallel_coordinates_put_the_best_band_on_top() -> None:
    parallel = study_figures(synthetic_record(300)).figure("parallel")
    assert trials_drawn(parallel) == len(
        study_figures(synthetic_record(300)).figure("history").data[0]["x"]
    )
    best = parallel.data[-1]
    assert best["line"]["color"] == "#e9b600"
    top = [float(part) for part in best["name"].split(" – ")]
    assert all(float(d["name"].split(" – ")[0]) >= top[1] for d in parallel.data[:-1])


def test_sixty_four_parameters_draw_the_most_important_and_say_so() -> None:
    figures = study_figures(synthetic_record(150, parameters=64))
    parallel = figures.figure("parallel")
    assert len(parallel.layout["shapes"]) == FigureLimits().axes + 1  # + the objective
    assert "the 12 most important of 64 parameters" in (parallel.note or "")
    assert len(figures.figure("slice").data) == FigureLimits().axes
    strict_json(figures)


def test_ten_thousand_trials_are_thinned_and_the_plots_say_how() -> None:
    limits = FigureLimits()
    figures = study_figures(synthetic_record(10_000), limits=limits)
    parallel = figures.figure("parallel")
    assert trials_drawn(parallel) == limits.lines
    assert f"{limits.lines:,} of " in (parallel.note or "")
    history = figures.figure("history")
    points, _ = history.data
    assert len(points["x"]) == limits.history_points
    assert f"{limits.history_points:,} of " in (history.note or "")
    assert all(d["type"] != "scattergl" for f in figures.figures for d in f.data)  # no WebGL
    timeline = figures.figure("timeline")
    bars = sum(d["x"].count(None) for d in timeline.data)
    assert bars == limits.timeline_bars and "even spread" in (timeline.note or "")
    curves = figures.figure("intermediate")
    drawn = sum(1 for d in curves.data if d["mode"] == "lines" for y in d["y"] if y is None)
    assert drawn == limits.curves


def test_pruned_trials_are_marked_where_they_were_cut_with_the_rule_that_cut_them() -> None:
    figures = study_figures(synthetic_record(60))
    marks = next(d for d in figures.figure("intermediate").data if d["name"] == "cut here")
    assert marks["x"] and all(step == 3 for step in marks["x"])
    assert all("pruned: rung 0 (budget 3)" in text for text in marks["text"])


def test_the_timeline_gives_each_started_trial_a_bar_with_its_gpu_seconds() -> None:
    trials = [
        trial(0, start_time=START, completion_time=START + timedelta(seconds=30), gpu_seconds=30.0),
        trial(1, TrialPhase.RUNNING, start_time=START + timedelta(seconds=10)),
        trial(2, TrialPhase.PENDING),
    ]
    timeline = study_figures(record_of(trials)).figure("timeline")
    running, succeeded = timeline.data  # phases in TrialPhase order
    assert succeeded["x"] == [0.0, 30.0, None] and succeeded["y"] == [0, 0, None]
    assert "1 GPU(s), 30 GPU-seconds" in succeeded["text"][0]
    assert running["x"] == [10.0, 30.0, None]  # a running trial reaches the latest time seen


def test_two_objectives_draw_the_front_and_the_hypervolume() -> None:
    figures = study_figures(synthetic_record(300, objectives=2))
    others, front = figures.figure("pareto").data
    assert front["name"] == "front" and len(front["x"]) >= 1
    assert len(others["x"]) + len(front["x"]) == len(figures.figure("history").data[0]["x"])
    volumes = figures.figure("hypervolume").data[0]["y"]
    assert all(b >= a for a, b in itertools.pairwise(volumes)) and volumes[-1] > 0
    assert [f.key for f in figures.figures].count("history-speed") == 1


def test_three_objectives_draw_a_matrix_of_pairs() -> None:
    pareto = study_figures(synthetic_record(200, objectives=3)).figure("pareto")
    (matrix,) = pareto.data
    assert matrix["type"] == "splom" and len(matrix["dimensions"]) == 3


def test_html_in_a_trial_message_stays_text_in_the_json() -> None:
    figures = study_figures(synthetic_record(100))
    assert any("<b>not bold</b>" in row[3] for row in figures.failures.rows)


@given(
    losses=st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=300),
    limit=st.integers(1, 100),
)
def test_thinning_keeps_the_best_within_the_limit_in_order(losses: list[float], limit: int) -> None:
    items = list(enumerate(losses))
    thinned = thin(items, limit, lambda item: item[1])
    assert len(thinned.kept) == min(limit, len(items))
    assert thinned.kept == sorted(thinned.kept)
    if items:
        assert min(items, key=lambda i: i[1])[1] == min(k[1] for k in thinned.kept)
    assert (thinned.note is None) == (len(items) <= limit)


@given(count=st.integers(0, 500), limit=st.integers(1, 100))
def test_an_even_spread_keeps_the_first_item_and_the_order(count: int, limit: int) -> None:
    shown = spread(list(range(count)), limit)
    assert len(shown.kept) == min(count, limit)
    assert shown.kept == sorted(set(shown.kept))
    assert not shown.kept or shown.kept[0] == 0
    assert (shown.note is None) == (count <= limit)


def test_the_best_so_far_line_is_exact_when_the_points_are_thinned() -> None:
    record = synthetic_record(3000)
    thinned = study_figures(record, limits=FigureLimits(history_points=100))
    whole = study_figures(record, limits=FigureLimits(history_points=10_000))
    points, line = thinned.figure("history").data
    all_points = whole.figure("history").data[0]
    best = min(all_points["y"])
    assert best in points["y"] and line["y"][-1] == best
    assert line["x"][-1] == all_points["x"][-1]  # the line reaches the last trial
    steps = zip(line["x"][:-1], line["y"][:-1], strict=True)
    for x, y in steps:  # each step is where a trial improved on the best
        assert y == all_points["y"][all_points["x"].index(x)]
    assert line["y"] == sorted(line["y"], reverse=True)  # loss minimized: only steps down


def test_a_big_front_keeps_every_front_trial_and_thins_the_others() -> None:
    figures = study_figures(
        synthetic_record(3000, objectives=2), limits=FigureLimits(pareto_points=50)
    )
    others, front = figures.figure("pareto").data
    whole = study_figures(synthetic_record(3000, objectives=2)).figure("pareto").data[1]
    assert len(others["x"]) == 50 and front["x"] == whole["x"]
    assert "every front trial shown" in (figures.figure("pareto").note or "")


def test_a_trial_curve_shows_the_objective_first_marks_the_cut_and_counts_non_finite() -> None:
    points = (
        IntermediateValue(1, {"loss": 2.0, "acc": 0.5}),
        IntermediateValue(2, {"loss": math.nan, "acc": 0.6}),
        IntermediateValue(3, {"loss": 1.0, "acc": 0.7}),
    )
    pruned = trial(0, TrialPhase.PRUNED, intermediate=points, message="rung 0 (budget 3)")
    figure = trial_figure(record_of([pruned]), pruned)
    loss, acc, cut = figure.data
    assert (loss["name"], loss["x"], loss["y"]) == ("loss", [1, 3], [2.0, 1.0])
    assert loss["visible"] is True and acc["visible"] == "legendonly"
    assert cut["x"] == [3] and cut["text"] == ["rung 0 (budget 3)"]
    assert figure.note == "1 non-finite value(s) left out"
    silent = trial(1)
    assert not trial_figure(record_of([silent]), silent).data


def test_a_population_draws_one_line_per_member_and_its_exploits() -> None:
    record = pbt_record(members=4, generations=5)
    figures = study_figures(record)
    keys = [f.key for f in figures.figures]
    assert keys.index("lineage") == keys.index("intermediate") + 1
    lineage = figures.figure("lineage")
    *members, exploits = lineage.data
    assert [m["name"].split(" (")[0] for m in members] == [f"member {k}" for k in range(4)]
    exploited = [t for t in record.trials if t.attributes.get(LineageAttribute.EXPLOITED)]
    assert exploits["x"].count(None) == len(exploited) > 0
    points = sum(len([x for x in m["x"] if x is not None]) for m in members)
    assert points == len(record.trials)  # each segment once, on its member's line
    assert "p0=" in next(t for t in members[0]["text"] if t)  # hover: the hyperparameters
    best = min(record.trials, key=lambda t: t.values["loss"])
    assert f"member {best.attributes[LineageAttribute.MEMBER]} (best)" in [
        m["name"] for m in members
    ]


def test_the_best_models_schedule_follows_its_ancestry_through_exploits() -> None:
    record = pbt_record(members=4, generations=5)
    schedule = study_figures(record).figure("lineage-schedule")
    best = min(record.trials, key=lambda t: t.values["loss"])
    chain = [best]
    while LineageAttribute.PARENT in chain[-1].attributes:
        parent = str(chain[-1].attributes[LineageAttribute.PARENT])
        chain.append(record.trials[int(parent.rsplit("-", 1)[1])])
    p0 = schedule.data[0]
    assert p0["y"][::2] == [t.params["p0"] for t in reversed(chain)]
    assert p0["x"][-1] == best.budget and p0["x"][0] == 0.0
    assert " → ".join(str(t.index) for t in reversed(chain)) in (schedule.note or "")


def test_a_study_without_lineage_has_no_lineage_plots_and_one_without_values_says_why() -> None:
    assert "lineage" not in [f.key for f in study_figures(synthetic_record(50)).figures]
    record = pbt_record(members=2, generations=2)
    silent = [dataclasses.replace(t, values={}, phase=TrialPhase.RUNNING) for t in record.trials]
    figures = study_figures(dataclasses.replace(record, trials=tuple(silent)))
    assert not figures.figure("lineage").data
    assert "finite objective value" in (figures.figure("lineage").note or "")
    strict_json(figures)
