"""Metric lines printed by training programs: what is reported, and that nothing crashes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubetune_runner._parse import ParsedReport, parse_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("val_accuracy=0.91", ParsedReport(None, {"val_accuracy": 0.91})),
        (
            "epoch=3 val_accuracy=0.91 loss=0.2",
            ParsedReport(3, {"val_accuracy": 0.91, "loss": 0.2}),
        ),
        ("step=7, loss=1e-3; acc=.5", ParsedReport(7, {"loss": 0.001, "acc": 0.5})),
        ("iteration = 12 loss = -2", ParsedReport(12, {"loss": -2.0})),
        ("INFO:root:epoch=2 train/loss=0.4", ParsedReport(2, {"train/loss": 0.4})),
        ("Epoch=4 acc=0.5", ParsedReport(4, {"acc": 0.5})),
        ("epoch=2 step=40 acc=0.5", ParsedReport(40, {"acc": 0.5})),
        ("epoch=0.5 acc=0.5", ParsedReport(None, {"acc": 0.5})),
        ("acc=0.9\r", ParsedReport(None, {"acc": 0.9})),
        ('{"step": 3, "val_accuracy": 0.91}', ParsedReport(3, {"val_accuracy": 0.91})),
        (
            '  {"epoch": 1, "acc": 1, "name": "resnet", "ok": true, "nested": {"x": 1}}',
            ParsedReport(1, {"acc": 1.0}),
        ),
        # Issue 11: a line mixing numbers and words reports its numeric pairs.
        (
            "accuracy=0.9 lr=1e-3 model=resnet50",
            ParsedReport(None, {"accuracy": 0.9, "lr": 0.001}),
        ),
        ("Loading model=resnet50 lr=0.1", ParsedReport(None, {"lr": 0.1})),
        (
            " 50%|█████     | 5/10 [00:01<00:02, 4.5it/s, loss=0.3]",
            ParsedReport(None, {"loss": 0.3}),
        ),
        ("Epoch=3/10 loss=0.2", ParsedReport(None, {"loss": 0.2})),
        # A value that starts like a number but is not one is rejected, to be warned about.
        ("epoch=1 loss=0.5abc", ParsedReport(1, {}, ("loss=0.5abc",))),
        ("acc=0.5 loss=0.5abc", ParsedReport(None, {"acc": 0.5}, ("loss=0.5abc",))),
    ],
)
def test_reports(line: str, expected: ParsedReport) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        "Loading model=resnet50",
        "acc=",
        "epoch=3",  # a step alone is not a report
        "Training started",
        "see https://example.org/?a=1&b=2",
        '{"name": "x"}',
        "{not json}",
        "[1, 2]",
    ],
)
def test_lines_that_are_only_printed(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    ("line", "name", "text"),
    [
        ("loss=nan", "loss", "nan"),
        ("loss=inf acc=0.5", "loss", "inf"),
        ("acc=1e999", "acc", "inf"),
        ("loss=-Infinity", "loss", "-inf"),
        ('{"acc": NaN}', "acc", "nan"),
        ('{"acc": 1e999}', "acc", "inf"),
    ],
)
def test_non_finite_values_are_reported_as_such(line: str, name: str, text: str) -> None:
    parsed = parse_line(line)
    assert parsed is not None and str(parsed.values[name]) == text


def test_metric_names_restrict_what_is_reported() -> None:
    line = "epoch=1 loss=0.5 acc=0.7 lr=0.1"
    assert parse_line(line, names={"acc", "loss"}) == ParsedReport(1, {"loss": 0.5, "acc": 0.7})
    assert parse_line(line, names={"f1"}) is None


def test_huge_json_integers_are_skipped() -> None:
    assert parse_line(json.dumps({"acc": 0.5, "big": 10**400})) == ParsedReport(None, {"acc": 0.5})


@given(st.text())
def test_arbitrary_text_never_crashes(line: str) -> None:
    parsed = parse_line(line)
    if parsed is not None:
        assert parsed.values or parsed.rejected
        assert all(isinstance(v, float) for v in parsed.values.values())
        assert parsed.step is None or parsed.step >= 0


@given(st.from_regex(r"[\x00-\x7f {}\"=:,;.0-9a-z\[\]-]*", fullmatch=True))
def test_json_and_pair_lookalikes_never_crash(line: str) -> None:
    parse_line(line)


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_./-]{0,15}", fullmatch=True).filter(
    lambda name: name.lower() not in ("step", "epoch", "iteration")
)
finite = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)


@given(
    metrics=st.dictionaries(names, finite, min_size=1, max_size=6),
    step=st.none() | st.integers(0, 10**9),
    separator=st.sampled_from([" ", ", ", ";", "  ", "\t", " , "]),
    prefix=st.sampled_from(["", "INFO:train:", "[rank0] "]),
)
def test_round_trip_of_printed_pairs(
    metrics: dict[str, float], step: int | None, separator: str, prefix: str
) -> None:
    pairs = [f"{name}={value!r}" for name, value in metrics.items()]
    if step is not None:
        pairs.insert(0, f"step={step}")
    parsed = parse_line(prefix + separator.join(pairs))
    assert parsed == ParsedReport(step, {name: float(value) for name, value in metrics.items()})


@given(
    metrics=st.dictionaries(names, finite, min_size=1, max_size=6),
    step=st.none() | st.integers(0, 10**9),
)
def test_round_trip_of_printed_json(metrics: dict[str, float], step: int | None) -> None:
    document: dict[str, object] = dict(metrics)
    if step is not None:
        document["step"] = step
    parsed = parse_line(json.dumps(document))
    assert parsed == ParsedReport(step, {name: float(value) for name, value in metrics.items()})


words = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True).filter(
    lambda word: word.lower() not in ("nan", "inf", "infinity")
)


@given(
    metrics=st.dictionaries(names, finite, min_size=1, max_size=5),
    labels=st.dictionaries(names, words, max_size=4),
    order=st.randoms(use_true_random=False),
    separator=st.sampled_from([" ", ", ", ";"]),
)
def test_a_line_mixing_numbers_and_words_reports_every_numeric_pair(
    metrics: dict[str, float],
    labels: dict[str, str],
    order: Any,
    separator: str,
) -> None:
    labels = {name: word for name, word in labels.items() if name not in metrics}
    pairs = [f"{n}={v!r}" for n, v in metrics.items()] + [f"{n}={w}" for n, w in labels.items()]
    order.shuffle(pairs)
    parsed = parse_line(separator.join(pairs))
    assert parsed == ParsedReport(None, {name: float(value) for name, value in metrics.items()})


@given(names, st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,3})?[a-z]{1,3}", fullmatch=True))
def test_a_value_that_looks_numeric_but_is_not_is_rejected_never_reported(
    name: str, value: str
) -> None:
    parsed = parse_line(f"{name}={value}")
    assert parsed is not None and parsed.values == {} and parsed.rejected == (f"{name}={value}",)
