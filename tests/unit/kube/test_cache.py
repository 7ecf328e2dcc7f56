"""The watch cache: versions only move forward, and big Trials are held compactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubetune.kube.cache import Curve, Kind, ObjectCache, slim

KEY = ("ns", "s")


def trial(version: int, intermediate: Any = None) -> dict[str, Any]:
    status = {"phase": "Running"} | ({"intermediate": intermediate} if intermediate else {})
    return {
        "metadata": {
            "name": "s-0",
            "namespace": "ns",
            "resourceVersion": str(version),
            "labels": {"kubetune.dev/study": "s"},
            "managedFields": [{"manager": "x"}],
        },
        "spec": {"index": 0},
        "status": status,
    }


points = st.lists(
    st.builds(
        lambda step, values: {"step": step, "values": values},
        st.integers(0, 10**6),
        st.dictionaries(
            st.sampled_from(["loss", "acc", "lr"]),
            st.floats(allow_nan=False, allow_infinity=False) | st.integers(-100, 100),
        ),
    ),
    min_size=1,
    max_size=30,
)


@given(points)
def test_a_curve_reads_back_as_the_points_it_holds(curve: list[dict[str, Any]]) -> None:
    held = Curve.of(curve)
    assert held is not None
    expected = [
        {"step": p["step"], "values": {k: float(v) for k, v in p["values"].items()}} for p in curve
    ]
    assert list(held) == expected
    assert held[-1:] == expected[-1:] and held[0] == expected[0] and len(held) == len(expected)


def test_a_trial_curve_is_cached_in_columns_and_managed_fields_dropped() -> None:
    curve = [{"step": s, "values": {"loss": 1 / s, "acc": s / 100}} for s in range(1, 101)]
    cached = slim(Kind.TRIAL, trial(5, curve))

    assert isinstance(cached["status"]["intermediate"], Curve)
    assert list(cached["status"]["intermediate"]) == curve
    assert "managedFields" not in cached["metadata"]
    assert cached["status"]["phase"] == "Running"


def test_a_curve_that_is_not_numbers_is_kept_as_it_came() -> None:
    odd = [{"step": 1, "values": {"loss": "high"}}]
    assert slim(Kind.TRIAL, trial(5, odd))["status"]["intermediate"] == odd
    assert Curve.of([{"step": "1", "values": {}}]) is None


def test_an_older_version_never_replaces_a_newer_one() -> None:
    cache = ObjectCache()
    assert cache.apply(Kind.TRIAL, "ADDED", trial(7)) == KEY
    assert cache.apply(Kind.TRIAL, "MODIFIED", trial(6)) is None
    assert cache.get(Kind.TRIAL, KEY)["s-0"]["metadata"]["resourceVersion"] == "7"
    assert json.dumps(cache.get(Kind.TRIAL, KEY)["s-0"]["spec"]) == '{"index": 0}'
