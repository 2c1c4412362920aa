from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.duration import (
    MAX_NANOS,
    DurationError,
    format_duration,
    format_duration_nanos,
    parse_duration,
    parse_duration_nanos,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("300ms", 0.3),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        ("10m", 600.0),
        ("45s", 45.0),
        ("0", 0.0),
        ("0s", 0.0),
        ("+5m", 300.0),
        (".5h", 1800.0),
        ("1.s", 1.0),
        ("2h45m30.5s", 9930.5),
        ("1us", 1e-6),
        ("1µs", 1e-6),
        ("1μs", 1e-6),
        ("10ns", 1e-8),
        ("168h", 604800.0),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-5m", "negative"),
        ("", "empty"),
        ("5", "no unit"),
        ("5d", "unknown unit 'd'"),
        ("5 m", "unknown unit ' m'"),
        ("1h-30m", "unknown unit 'h-'"),
        ("h", "expected a number"),
        (".m", "expected a number"),
        ("1..5s", "no unit"),
        ("1" * 65 + "s", "longer than 64"),
        ("9999999999h", "too long a duration"),
    ],
)
def test_bad_durations_say_why(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as raised:
        parse_duration(text)
    assert reason in raised.value.reason
    assert repr(text[:20]) in str(raised.value)


@pytest.mark.parametrize("value", [None, 5, 1.5, ["5m"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(DurationError, match="expected a string"):
        parse_duration(value)


def test_largest_go_duration_is_accepted() -> None:
    assert parse_duration_nanos("2562047h47m16.854775807s") == MAX_NANOS
    with pytest.raises(DurationError):
        parse_duration_nanos("2562047h47m16.854775808s")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.3, "300ms"),
        (0.0015, "1.5ms"),
        (2e-6, "2us"),
        (5e-9, "5ns"),
        (1.5, "1.5s"),
        (45, "45s"),
        (600, "10m"),
        (5400, "1h30m"),
        (3601, "1h1s"),
        (604800, "168h"),
    ],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [-1.0, float("nan"), float("inf"), 1e12])
def test_format_rejects_what_is_not_a_duration(seconds: float) -> None:
    with pytest.raises(DurationError):
        format_duration(seconds)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_NANOS))
def test_nanosecond_round_trip(nanos: int) -> None:
    assert parse_duration_nanos(format_duration_nanos(nanos)) == nanos


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=9e9, allow_nan=False))
def test_seconds_round_trip(seconds: float) -> None:
    text = format_duration(seconds)
    assert format_duration(parse_duration(text)) == text
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-15, abs=1e-9)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.hmsunµ+-x ", max_size=20))
def test_parse_never_fails_other_than_with_duration_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        assert exc.reason
    else:
        assert seconds >= 0
