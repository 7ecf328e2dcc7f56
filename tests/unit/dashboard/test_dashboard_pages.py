"""The dashboard's HTML escapes every value a study brings, and draws curves honestly."""

from __future__ import annotations

import math
from dataclasses import replace

from kubetune.api.attributes import LineageAttribute
from kubetune.api.trial import TrialPhase
from kubetune.dashboard import pages
from kubetune.dashboard.curve import curve_svg
from kubetune.history import IntermediateValue
from kubetune.record import StudyOverview
from tests.tools.dashboard_studies import record, trial
from tests.tools.records import pbt_record

ATTACK = "<script>alert('x')</script>"


def test_a_trial_page_shows_script_in_a_message_and_a_parameter_as_text() -> None:
    bad = trial(0, TrialPhase.FAILED, message=ATTACK, opt=ATTACK)
    html = pages.trial_page(record([bad]), bad)
    assert ATTACK not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_the_studies_page_escapes_names_and_links_them_percent_encoded() -> None:
    overview = StudyOverview('a"b<i>', "Running", 1, 2, 10, math.nan, "here")
    html = pages.studies_page([overview], "the state directory <tmp>")
    assert "<i>" not in html and "&lt;tmp&gt;" in html
    assert 'href="/studies/a%22b%3Ci%3E"' in html
    assert "NaN" in html


def test_the_study_page_cannot_be_ended_early_by_its_name() -> None:
    html = pages.study_page("x</script><script>alert(1)", report_available=False)
    assert "</script><script>alert(1)" not in html
    assert "report</a>" not in html
    assert "report</a>" in pages.study_page("x", report_available=True)


def test_an_empty_list_says_how_to_start_a_study() -> None:
    assert "kubetune run STUDY.yaml" in pages.studies_page([], "the state directory /tmp/x")


def test_a_curve_has_one_line_per_metric_and_counts_the_non_finite_points() -> None:
    points = (
        IntermediateValue(1, {"loss": 2.0, "acc": 0.5}),
        IntermediateValue(2, {"loss": math.nan, "acc": 0.6}),
        IntermediateValue(3, {"loss": 1.0, "acc": 0.7}),
    )
    svg = curve_svg(points, ["loss", "acc"])
    assert svg.count("<polyline") == 2
    assert "1 non-finite value(s) left out" in svg


def test_a_trial_without_intermediate_values_says_so() -> None:
    assert "no intermediate values" in curve_svg((), ["loss"])
    flat = curve_svg((IntermediateValue(1, {"loss": 1.0}),), ["loss"])
    assert "<polyline" in flat  # one point, zero ranges: still drawn, not a division by zero


def test_a_plotted_trial_page_carries_its_curve_as_json_that_cannot_end_the_script() -> None:
    curve = (IntermediateValue(1, {"loss": 2.0}), IntermediateValue(2, {"loss": 1.0}))
    bad = replace(trial(0, TrialPhase.PRUNED, message="cut </script><b>"), intermediate=curve)
    html = pages.trial_page(record([bad]), bad, plotted=True)
    assert "</script><b>" not in html and "kubetune.draw(" in html
    assert "<polyline" not in html


def test_a_population_trial_links_the_trial_it_continued_from() -> None:
    population = pbt_record(members=2, generations=2)
    child = population.trials[-1]
    html = pages.trial_page(population, child)
    parent = str(child.attributes[LineageAttribute.PARENT]).rsplit("-", 1)[1]
    assert f'<a href="/studies/s/trials/{parent}">s-{parent}</a>' in html
