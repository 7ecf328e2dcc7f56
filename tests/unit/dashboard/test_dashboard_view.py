"""The trial table's sort, filter, top-K and paging, and the JSON the dashboard sends."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.trial import TrialPhase
from kubetune.dashboard import view
from kubetune.dashboard.view import BadQuery, TableQuery, parse_table_query, trial_table
from tests.tools.dashboard_studies import record, trial


def indexes(table: dict[str, object]) -> list[int]:
    return [row["index"] for row in table["rows"]]  # type: ignore[index, union-attr]


MIXED = record(
    [
        trial(0, loss=3.0),
        trial(1, TrialPhase.FAILED, message="CUDA out of memory"),
        trial(2, loss=1.0, opt="sgd"),
        trial(3, TrialPhase.RUNNING),
        trial(4, loss=2.0),
        trial(5, TrialPhase.PRUNED, loss=9.0),
    ]
)


def test_sorts_by_an_objective_either_way_with_missing_values_last() -> None:
    up = trial_table(MIXED, TableQuery(sort="value:loss"))
    down = trial_table(MIXED, TableQuery(sort="value:loss", descending=True))
    assert indexes(up) == [2, 4, 0, 5, 1, 3]
    assert indexes(down) == [5, 0, 4, 2, 1, 3]


def test_sorts_by_a_parameter_and_by_phase() -> None:
    assert indexes(trial_table(MIXED, TableQuery(sort="param:opt")))[-1] == 2
    phases = trial_table(MIXED, TableQuery(sort="phase"))
    assert [row["phase"] for row in phases["rows"]] == sorted(t.phase.value for t in MIXED.trials)


def test_filters_by_text_in_messages_and_parameters_and_by_phase() -> None:
    assert indexes(trial_table(MIXED, TableQuery(text="cuda OUT"))) == [1]
    assert indexes(trial_table(MIXED, TableQuery(text="opt=sgd"))) == [2]
    succeeded = trial_table(MIXED, TableQuery(phase=TrialPhase.SUCCEEDED))
    assert indexes(succeeded) == [0, 2, 4]
    assert succeeded["matched"] == 3 and succeeded["total"] == 6


def test_top_k_keeps_the_best_succeeded_trials_only() -> None:
    table = trial_table(MIXED, TableQuery(top=2))
    assert indexes(table) == [2, 4]


def test_pages_through_many_trials() -> None:
    many = record([trial(i, loss=float(i)) for i in range(250)])
    page = trial_table(many, TableQuery(sort="value:loss", descending=True, offset=100, limit=50))
    assert indexes(page) == list(range(149, 99, -1))
    assert page["matched"] == 250


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"phase": "Done"}, "phase='Done'"),
        ({"top": "ten"}, "top='ten'"),
        ({"top": "0"}, "top=0"),
        ({"offset": "-1"}, "offset=-1"),
    ],
)
def test_a_bad_query_parameter_is_named(params: dict[str, str], named: str) -> None:
    with pytest.raises(BadQuery, match=named):
        parse_table_query(params)


def test_an_unknown_sort_column_lists_the_columns() -> None:
    with pytest.raises(BadQuery, match=r"sort='nope'.*value:loss.*param:lr"):
        trial_table(MIXED, parse_table_query({"sort": "nope"}))


def test_the_query_reads_as_the_page_sends_it() -> None:
    query = parse_table_query(
        {"sort": "value:loss", "desc": "1", "q": " adam ", "phase": "Failed", "limit": "5000"}
    )
    assert query == TableQuery(
        sort="value:loss",
        descending=True,
        text="adam",
        phase=TrialPhase.FAILED,
        limit=view.MAX_PAGE_SIZE,
    )


def test_non_finite_values_travel_as_strings_json_can_carry() -> None:
    weird = record([trial(0, loss=math.inf), trial(1, loss=math.nan), trial(2, loss=1.0)])
    table = trial_table(weird, TableQuery(sort="value:loss"))
    text = json.dumps(table, allow_nan=False)
    assert '"inf"' in text and '"NaN"' in text
    assert indexes(table) == [2, 0, 1]  # numbers in order, then the non-finite ones
    json.dumps(view.trial_json(weird.trials[0]), allow_nan=False)
    json.dumps(view.study_json(weird), allow_nan=False)


@pytest.mark.parametrize(
    ("trials", "says"),
    [
        ([], "no trials yet"),
        (
            [trial(0, TrialPhase.FAILED), trial(1, TrialPhase.FAILED)],
            "Every trial so far has failed",
        ),
        ([trial(0, TrialPhase.SUCCEEDED)], "no best trial"),
    ],
)
def test_a_study_with_nothing_to_rank_says_so(trials: list[object], says: str) -> None:
    assert says in (view.study_json(record(trials))["notice"] or "")  # type: ignore[arg-type]


def test_a_study_with_results_has_no_notice_and_names_its_best_trial() -> None:
    summary = view.study_json(MIXED)
    assert summary["notice"] is None
    assert summary["best"] == {"index": 2, "values": {"loss": 1.0}}


def test_an_unknown_trial_names_the_indexes_there() -> None:
    with pytest.raises(view.UnknownTrial, match=r"no trial 42 .*0 to 5"):
        view.find_trial(MIXED, 42)


@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), max_size=30), st.booleans())
def test_sorting_keeps_every_trial_and_orders_the_finite_ones(
    losses: list[float | None], descending: bool
) -> None:
    study = record([trial(i, loss=loss) for i, loss in enumerate(losses)])
    table = trial_table(study, TableQuery(sort="value:loss", descending=descending, limit=1000))
    assert sorted(indexes(table)) == list(range(len(losses)))
    shown = [losses[i] for i in indexes(table)]
    numbers = [v for v in shown if v is not None and not math.isnan(v)]
    assert numbers == sorted(numbers, reverse=descending)
    assert shown[len(numbers) :].count(None) == losses.count(None)
    assert all(v is None for v in shown[len(shown) - losses.count(None) :])
