"""The lifecycle's pure pieces: number formatting, message bounds, failure summaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubetune.api.reasons import TrialReason
from kubetune.api.trial import TrialPhase
from kubetune.lifecycle import (
    MAX_MESSAGE_CHARS,
    OUTPUT_TAIL_LINES,
    Ended,
    bounded_message,
    exit_status,
    failure_summary,
    verdict,
)
from kubetune.template import format_number, substitute


@given(st.integers(-(10**15), 10**15))
def test_a_whole_budget_is_an_integer_in_env_and_template(value: int) -> None:
    assert format_number(float(value)) == str(value)
    assert substitute("${budget}", {}, "t", float(value)) == str(value)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_a_fractional_budget_reads_back_exactly(value: float) -> None:
    assert float(format_number(value)) == value


@given(st.text(max_size=3000), st.integers(40, 2000))
def test_a_bounded_message_fits_and_keeps_its_end(message: str, limit: int) -> None:
    bounded = bounded_message(message, limit)
    assert len(bounded) <= limit
    if len(message) <= limit:
        assert bounded == message
    else:
        assert message.endswith(bounded[-(limit // 4) :])
        assert bounded.startswith(message.split("\n", 1)[0][: limit // 2])


def test_a_long_failure_quotes_the_last_output_lines_within_the_limit() -> None:
    output = "".join(f"line {i} " + "x" * 80 + "\n" for i in range(200)) + "KeyError: 'lr'\n"
    result = verdict(Ended(exit_code=2, output=output), ["loss"])
    assert (result.phase, result.reason) == (TrialPhase.FAILED, TrialReason.ERROR)
    assert len(result.message) <= MAX_MESSAGE_CHARS
    assert result.message.startswith("exited with code 2; last output:")
    assert result.message.endswith("KeyError: 'lr'")
    assert f"line {199 - OUTPUT_TAIL_LINES}" not in result.message


def test_the_summary_skips_blank_lines_and_the_traceback_header() -> None:
    message = (
        "exited with code 1; last output:\nepoch 1\nTraceback (most recent call last):\n"
        '  File "train.py", line 3\n    raise ValueError("lr")\n     ^^^^^^\nValueError: lr\n\n'
    )
    assert failure_summary(message) == 'exited with code 1: raise ValueError("lr") | ValueError: lr'
    assert failure_summary(message, lines=1) == "exited with code 1: ValueError: lr"
    assert failure_summary("exited 0 but never reported loss") == (
        "exited 0 but never reported loss"
    )


def test_a_signal_reads_as_the_container_runtime_reports_it() -> None:
    assert (exit_status(-9), exit_status(3), exit_status(0)) == (137, 3, 0)


def test_stop_wins_over_any_exit_code_and_nan_over_missing() -> None:
    stopped = verdict(Ended(exit_code=137, stop_requested=True, stop_reason="r"), ["loss"])
    assert (stopped.phase, stopped.reason, stopped.message) == (
        TrialPhase.STOPPED,
        TrialReason.STUDY_ENDED,
        "r",
    )
    nan = verdict(Ended(exit_code=0, non_finite={"loss": "-inf"}), ["loss", "acc"])
    assert nan.reason is TrialReason.OBJECTIVE_NOT_FINITE and "loss=-inf" in nan.message
