"""The search space: encode/decode round trips, bounds, steps, conditions and grids."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubetune.api.study import ParameterSpec
from kubetune.space import Parameter, ParameterKind, SearchSpace, SpaceError


def space(*specs: dict) -> SearchSpace:
    return SearchSpace.from_specs([ParameterSpec.model_validate(s) for s in specs])


@st.composite
def numeric_specs(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["float", "int"]))
    log = draw(st.booleans())
    if kind == "int":
        low = draw(st.integers(1 if log else -1000, 1000))
        high = low + draw(st.integers(1, 5000))
        step = None if log else draw(st.sampled_from([None, 1, 2, 7]))
        if step is not None and step > high - low:
            step = None
        return {"name": "p", "type": "int", "low": low, "high": high, "log": log, "step": step}
    low = draw(st.floats(1e-6, 1e3)) if log else draw(st.floats(-1e3, 1e3))
    high = low + draw(st.floats(1e-3, 1e4))
    step = None
    if not log and draw(st.booleans()):
        step = (high - low) / draw(st.integers(1, 50))
    return {"name": "p", "type": "float", "low": low, "high": high, "log": log, "step": step}


@given(numeric_specs(), st.floats(0.0, 1.0))
@settings(max_examples=300, deadline=None)
def test_decoded_values_respect_bounds_steps_and_round_trip(spec: dict, u: float) -> None:
    s = space(spec)
    (parameter,) = s.parameters
    value = s.decode([u])["p"]
    assert parameter.contains(value), (spec, u, value)
    if spec["type"] == "int":
        assert isinstance(value, int)
    # Decoding the encoding of a decoded value gives the value back.
    assert s.decode(s.encode({"p": value}))["p"] == pytest.approx(value, rel=1e-9, abs=1e-9)


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=8, unique=True))
def test_categorical_round_trip(choices: list[str]) -> None:
    s = space({"name": "c", "type": "categorical", "choices": choices})
    for choice in choices:
        assert s.decode(s.encode({"c": choice}))["c"] == choice


def test_log_scale_spreads_samples_evenly_in_log_space() -> None:
    s = space({"name": "lr", "type": "float", "low": 1e-5, "high": 1e-1, "log": True})
    values = np.array([p["lr"] for p in s.sample(np.random.default_rng(0), 4000)])
    share_below_1e3 = np.mean(values < 1e-3)
    assert 0.45 < share_below_1e3 < 0.55  # half the decades lie below 1e-3


def test_every_integer_is_equally_likely() -> None:
    s = space({"name": "k", "type": "int", "low": 1, "high": 4})
    values = [p["k"] for p in s.sample(np.random.default_rng(1), 8000)]
    counts = np.bincount(values)[1:]
    assert counts.min() > 1800 and counts.max() < 2200


def test_inactive_conditional_parameters_encode_as_nan_and_are_dropped() -> None:
    s = space(
        {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
        {"name": "momentum", "type": "float", "low": 0.5, "high": 0.99, "when": {"opt": ["sgd"]}},
    )
    adam = s.encode({"opt": "adam"})
    assert math.isnan(adam[1])
    assert s.decode(adam) == {"opt": "adam"}
    sgd = s.decode([0.1, 0.5])
    assert sgd["opt"] == "sgd" and 0.5 <= sgd["momentum"] <= 0.99
    assert s.errors({"opt": "adam", "momentum": 0.9}) == [
        "momentum: set, but inactive because of its 'when' condition; remove it"
    ]
    assert s.errors({"opt": "sgd"}) == ["momentum: missing; give it a value"]


def test_grid_enumerates_each_combination_once_with_conditions_collapsed() -> None:
    s = space(
        {"name": "opt", "type": "categorical", "choices": ["sgd", "adam"]},
        {
            "name": "m",
            "type": "float",
            "low": 0.0,
            "high": 0.5,
            "step": 0.25,
            "when": {"opt": ["sgd"]},
        },
        {"name": "k", "type": "int", "low": 1, "high": 2},
    )
    grid = list(s.grid())
    # sgd: 3 momentum values x 2 k; adam: 2 k (momentum inactive).
    assert len(grid) == 8
    assert {"opt": "sgd", "m": 0.25, "k": 2} in grid
    assert {"opt": "adam", "k": 1} in grid


def test_grid_over_a_continuous_parameter_names_it() -> None:
    s = space({"name": "lr", "type": "float", "low": 0.1, "high": 1.0})
    with pytest.raises(SpaceError, match="'lr' is a continuous float"):
        list(s.grid())


def test_errors_name_the_parameter_and_the_range() -> None:
    s = space(
        {"name": "lr", "type": "float", "low": 0.1, "high": 1.0},
        {"name": "bs", "type": "int", "low": 16, "high": 256, "step": 16},
    )
    assert s.errors({"lr": 2.0, "bs": 20, "x": 1}) == [
        "lr: 2.0 is outside [0.1, 1]",
        "bs: 20 is outside the integers in [16, 256] in steps of 16 from 16",
        "x: not a parameter of the study; known: ['lr', 'bs']",
    ]


# --- conditions: list order does not matter, cycles are refused ------------------------------

CONDITIONAL = [
    {"name": "momentum", "type": "float", "low": 0.0, "high": 0.9, "when": {"optimizer": ["sgd"]}},
    {"name": "nesterov", "type": "categorical", "choices": [True, False],
     "when": {"optimizer": ["sgd"]}},
    {"name": "dampening", "type": "float", "low": 0.0, "high": 0.5, "when": {"nesterov": [False]}},
    {"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam"]},
    {"name": "beta1", "type": "float", "low": 0.8, "high": 0.99, "when": {"optimizer": ["adam"]}},
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
]  # fmt: skip


def test_a_conditional_parameter_listed_before_its_parent_is_sampled() -> None:
    s = space(*CONDITIONAL)  # momentum, nesterov and dampening come before their parents
    samples = s.sample(np.random.default_rng(0), 200)
    for name in ("momentum", "nesterov", "dampening", "beta1"):
        assert any(name in p for p in samples), name
    for p in samples:
        assert ("momentum" in p) == (p["optimizer"] == "sgd")
        assert ("dampening" in p) == (p.get("nesterov") is False)
        assert s.errors(p) == []


def _active_sets(s: SearchSpace) -> set[frozenset[str]]:
    """Which sets of parameters can be active together (over a coarse grid of every value)."""
    levels = {p.name: p.grid_values() if p.levels else [p.low] for p in s.parameters}
    sets = set()
    for combination in itertools.product(*levels.values()):
        params = s.decode_values(dict(zip(levels, combination, strict=True)))
        sets.add(frozenset(params))
    return sets


@given(st.permutations(CONDITIONAL))
@settings(max_examples=40, deadline=None)
def test_permuting_the_parameters_does_not_change_which_can_be_active(order: list[dict]) -> None:
    reference = _active_sets(space(*CONDITIONAL))
    permuted = space(*order)
    assert _active_sets(permuted) == reference
    for point in np.random.default_rng(1).random((20, permuted.dims)):
        params = permuted.decode(point)
        assert list(params) == [n for n in permuted.names if n in params]  # list order kept
        assert permuted.errors(params) == []


def test_a_when_cycle_is_refused_naming_it() -> None:
    with pytest.raises(SpaceError, match="cycle: a -> b -> a"):
        SearchSpace(
            (
                Parameter("a", ParameterKind.CATEGORICAL, choices=("x", "y"), when={"b": ("u",)}),
                Parameter("b", ParameterKind.CATEGORICAL, choices=("u", "v"), when={"a": ("x",)}),
            )
        )
