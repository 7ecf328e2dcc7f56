"""Property tests: any valid Katib parameter becomes a valid kubetune one with the same range."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.study import ParameterSpec
from kubetune.convert._katib_space import convert_parameter
from kubetune.convert.notes import Note, NoteKind

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
distributions = st.sampled_from([None, "uniform", "logUniform", "normal", "logNormal"])


@st.composite
def double_parameters(draw: st.DrawFn) -> dict[str, Any]:
    distribution = draw(distributions)
    log = distribution in ("logUniform", "logNormal")
    low = draw(st.floats(min_value=1e-6, max_value=1e5) if log else finite)
    high = draw(st.floats(min_value=low, max_value=low + 1e6).filter(lambda h: h > low))
    space: dict[str, Any] = {"min": repr(low), "max": repr(high)}
    if distribution is not None:
        space["distribution"] = distribution
    if draw(st.booleans()):
        step = (high - low) * draw(st.floats(min_value=0.01, max_value=2.0))
        if step > 0:
            space["step"] = repr(step)
    return {"name": "x", "parameterType": "double", "feasibleSpace": space}


@given(double_parameters())
def test_a_double_keeps_its_bounds_and_scale(parameter: dict[str, Any]) -> None:
    notes: list[Note] = []
    converted = convert_parameter(0, parameter, notes)
    ParameterSpec.model_validate(converted)
    space = parameter["feasibleSpace"]
    assert (converted["low"], converted["high"]) == (float(space["min"]), float(space["max"]))
    log = space.get("distribution") in ("logUniform", "logNormal")
    assert converted.get("log", False) is log
    if "step" in space and "step" not in converted:  # only dropped with a note saying so
        assert any(n.source.endswith(".step") and n.kind.is_lossy for n in notes)
    if space.get("distribution") in ("normal", "logNormal"):
        assert any(n.kind is NoteKind.APPROXIMATED for n in notes)


@given(
    st.integers(-10_000, 10_000),
    st.integers(1, 10_000),
    st.one_of(st.none(), st.integers(1, 50)),
)
def test_an_int_keeps_its_bounds_and_step(low: int, width: int, step: int | None) -> None:
    space: dict[str, Any] = {"min": str(low), "max": str(low + width)}
    if step is not None:
        space["step"] = str(step)
    converted = convert_parameter(
        0, {"name": "n", "parameterType": "int", "feasibleSpace": space}, []
    )
    ParameterSpec.model_validate(converted)
    assert (converted["type"], converted["low"], converted["high"]) == ("int", low, low + width)
    assert converted.get("step") == (step if step is not None and step <= width else None)


@given(st.lists(st.one_of(st.integers(-1000, 1000), finite), min_size=1, max_size=20, unique=True))
def test_a_discrete_list_becomes_a_categorical_of_the_same_numbers(values: list[float]) -> None:
    if len({float(v) for v in values}) != len(values):  # 1 and 1.0 are one value
        return
    parameter = {"name": "d", "parameterType": "discrete",
                 "feasibleSpace": {"list": [str(v) for v in values]}}  # fmt: skip
    converted = convert_parameter(0, parameter, [])
    ParameterSpec.model_validate(converted)
    assert [float(c) for c in converted["choices"]] == [float(v) for v in values]


@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=10, unique=True))
def test_a_categorical_list_keeps_its_strings(values: list[str]) -> None:
    parameter = {"name": "c", "parameterType": "categorical", "feasibleSpace": {"list": values}}
    converted = convert_parameter(0, parameter, [])
    ParameterSpec.model_validate(converted)
    assert converted["choices"] == values
