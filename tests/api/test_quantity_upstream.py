"""Quantity tables carried over from apimachinery's
``staging/src/k8s.io/apimachinery/pkg/api/resource/quantity_test.go`` (kubernetes v1.34):
TestQuantityParse (with its negated and ``+``-prefixed variants and its invalid inputs),
TestParseQuantityString, TestQuantityRoundUp, TestQuantityCmp, TestQuantityString,
TestQuantityParseEmit and TestScaledValue. Inputs and expected values are upstream's; an
expected ``decQuantity(m, e, format)`` is written here as the value ``m * 10**e``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from autoscaler.api.quantity import (
    INT64_MAX,
    QuantityError,
    QuantityFormat,
    format_quantity,
    int_value,
    milli_value,
    parse,
    round_up,
    scaled_value,
)

BIN, DEC, EXP = QuantityFormat.BINARY_SI, QuantityFormat.DECIMAL_SI, QuantityFormat.DECIMAL_EXPONENT


def d(mantissa: int | float, exponent: int = 0) -> Decimal:
    return Decimal(str(mantissa)).scaleb(exponent)


# TestQuantityParse
PARSE_TABLE: list[tuple[str, Decimal, QuantityFormat]] = [
    ("0", d(0), DEC),
    ("0n", d(0), DEC),
    ("0u", d(0), DEC),
    ("0m", d(0), DEC),
    ("0Ki", d(0), BIN),
    ("0k", d(0), DEC),
    ("0Mi", d(0), BIN),
    ("0M", d(0), DEC),
    ("0Gi", d(0), BIN),
    ("0G", d(0), DEC),
    ("0Ti", d(0), BIN),
    ("0T", d(0), DEC),
    ("1", d(1), DEC),
    ("1Ki", d(1024), BIN),
    ("8Ki", d(8 * 1024), BIN),
    ("7Mi", d(7 * 1024**2), BIN),
    ("6Gi", d(6 * 1024**3), BIN),
    ("5Ti", d(5 * 1024**4), BIN),
    ("4Pi", d(4 * 1024**5), BIN),
    ("3Ei", d(3 * 1024**6), BIN),
    ("10Ti", d(10 * 1024**4), BIN),
    ("100Ti", d(100 * 1024**4), BIN),
    ("5n", d(5, -9), DEC),
    ("4u", d(4, -6), DEC),
    ("3m", d(3, -3), DEC),
    ("9", d(9), DEC),
    ("8k", d(8, 3), DEC),
    ("50k", d(5, 4), DEC),
    ("7M", d(7, 6), DEC),
    ("6G", d(6, 9), DEC),
    ("5T", d(5, 12), DEC),
    ("40T", d(4, 13), DEC),
    ("300T", d(3, 14), DEC),
    ("2P", d(2, 15), DEC),
    ("1E", d(1, 18), DEC),
    ("1E-3", d(1, -3), EXP),
    ("1e3", d(1, 3), EXP),
    ("1E6", d(1, 6), EXP),
    ("1e9", d(1, 9), EXP),
    ("1E12", d(1, 12), EXP),
    ("1e15", d(1, 15), EXP),
    ("1E18", d(1, 18), EXP),
    ("1e14", d(1, 14), EXP),
    ("1e13", d(1, 13), EXP),
    ("100.035k", d(100035), DEC),
    ("0.001", d(1, -3), DEC),
    ("0.0005k", d(5, -1), DEC),
    ("0.005", d(5, -3), DEC),
    ("0.05", d(5, -2), DEC),
    ("0.5", d(5, -1), DEC),
    ("0.00050k", d(5, -1), DEC),
    ("0.00500", d(5, -3), DEC),
    ("0.05000", d(5, -2), DEC),
    ("0.50000", d(5, -1), DEC),
    ("0.5e0", d(5, -1), EXP),
    ("0.5e-1", d(5, -2), EXP),
    ("0.5e-2", d(5, -3), EXP),
    ("10.035M", d(10035, 3), DEC),
    ("1.2e3", d(12, 2), EXP),
    ("1.3E+6", d(13, 5), EXP),
    ("1.40e9", d(14, 8), EXP),
    ("1.53E12", d(153, 10), EXP),
    ("1.6e15", d(16, 14), EXP),
    ("1.7E18", d(17, 17), EXP),
    ("9.01", d(901, -2), DEC),
    ("8.1k", d(81, 2), DEC),
    ("7.123456M", d(7123456), DEC),
    ("6.987654321G", d(6987654321), DEC),
    ("5.444T", d(5444, 9), DEC),
    ("40.1T", d(401, 11), DEC),
    ("300.2T", d(3002, 11), DEC),
    ("2.5P", d(25, 14), DEC),
    ("1.01E", d(101, 16), DEC),
    # Things that saturate or round
    ("3.001n", d(4, -9), DEC),
    ("1.1E-9", d(2, -9), EXP),
    ("0.0000000001", d(1, -9), DEC),
    ("0.0000000005", d(1, -9), DEC),
    ("0.00000000050", d(1, -9), DEC),
    ("0.5e-9", d(1, -9), EXP),
    ("0.9n", d(1, -9), DEC),
    ("0.00000012345", d(124, -9), DEC),
    ("0.00000012354", d(124, -9), DEC),
    ("9Ei", d(INT64_MAX), BIN),
    ("9223372036854775807Ki", d(INT64_MAX), BIN),
    ("12E", d(12, 18), DEC),
    # Fractional binary values
    ("100.035Ki", d(10243584, -2), BIN),
    ("0.5Mi", d(0.5 * 1024 * 1024), BIN),
    ("0.05Gi", d(536870912, -1), BIN),
    ("0.025Ti", d(274877906944, -1), BIN),
    # Things written by trolls
    ("0.000000000001Ki", d(2, -9), DEC),
    (".001", d(1, -3), DEC),
    (".0001k", d(100, -3), DEC),
    ("1.", d(1), DEC),
    ("1.G", d(1, 9), DEC),
]


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE_TABLE)
def test_parse(text: str, value: Decimal, fmt: QuantityFormat) -> None:
    quantity = parse(text)
    assert quantity.value == value
    assert quantity.format is fmt


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE_TABLE)
def test_parse_negated(text: str, value: Decimal, fmt: QuantityFormat) -> None:
    quantity = parse("-" + text)
    assert quantity.value == -value
    assert quantity.format is fmt


@pytest.mark.parametrize(("text", "value", "fmt"), PARSE_TABLE)
def test_parse_with_explicit_plus(text: str, value: Decimal, fmt: QuantityFormat) -> None:
    quantity = parse("+" + text)
    assert quantity.value == value
    assert quantity.format is fmt


@pytest.mark.parametrize(
    "text",
    ["", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 "],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(QuantityError):
        parse(text)


# TestParseQuantityString: the scanner takes a missing number as zero. Upstream checks the
# scanner's parts; what they amount to is checked here, with the other inputs the scanner
# reads as a zero with a suffix.
@pytest.mark.parametrize(
    ("text", "value", "fmt"),
    [
        ("0.025Ti", d(274877906944, -1), BIN),
        ("1.025Ti", Decimal("1.025") * 2**40, BIN),
        ("-1.025Ti", -Decimal("1.025") * 2**40, BIN),
        (".", d(0), DEC),
        ("-.", d(0), DEC),
        ("1E-3", d(1, -3), EXP),
        ("m", d(0), DEC),
        ("Ki", d(0), BIN),
        ("-", d(0), DEC),
        ("+", d(0), DEC),
        ("e3", d(0), EXP),
    ],
)
def test_scanner_corner_cases(text: str, value: Decimal, fmt: QuantityFormat) -> None:
    quantity = parse(text)
    assert quantity.value == value
    assert quantity.format is fmt


# TestQuantityRoundUp
@pytest.mark.parametrize(
    ("text", "scale", "value", "exact"),
    [
        ("9.01", -3, d(901, -2), True),
        ("9.01", -2, d(901, -2), True),
        ("9.01", -1, d(91, -1), False),
        ("9.01", 0, d(10), False),
        ("9.01", 1, d(10), False),
        ("9.01", 2, d(100), False),
        ("-9.01", -3, d(-901, -2), True),
        ("-9.01", -2, d(-901, -2), True),
        ("-9.01", -1, d(-91, -1), False),
        ("-9.01", 0, d(-10), False),
        ("-9.01", 1, d(-10), False),
        ("-9.01", 2, d(-100), False),
    ],
)
def test_round_up(text: str, scale: int, value: Decimal, exact: bool) -> None:
    assert round_up(parse(text).value, scale) == (value, exact)


# TestQuantityCmp
@pytest.mark.parametrize(
    ("x", "y", "expect"),
    [("0", "0", 0), ("100m", "50m", 1), ("50m", "100m", -1), ("10000T", "100Gi", 1)],
)
def test_compare(x: str, y: str, expect: int) -> None:
    a, b = parse(x).value, parse(y).value
    assert (a > b) - (a < b) == expect


# TestQuantityString: value, format, canonical text, and an alternate spelling that must
# canonicalise to the same text.
STRING_TABLE: list[tuple[Decimal, QuantityFormat, str, str]] = [
    (d(1024**3), BIN, "1Gi", "1024Mi"),
    (d(300 * 1024**2), BIN, "300Mi", "307200Ki"),
    (d(6 * 1024), BIN, "6Ki", ""),
    (d(1001 * 1024**3), BIN, "1001Gi", "1025024Mi"),
    (d(1024**4), BIN, "1Ti", "1024Gi"),
    (d(5), BIN, "5", "5000m"),
    (d(500, -3), BIN, "500m", "0.5"),
    (d(1, 9), DEC, "1G", "1000M"),
    (d(1000, 6), DEC, "1G", "0.001T"),
    (d(1000000, 3), DEC, "1G", ""),
    (d(1000000000), DEC, "1G", ""),
    (d(1, -3), DEC, "1m", "1000u"),
    (d(80, -3), DEC, "80m", ""),
    (d(1080, -3), DEC, "1080m", "1.08"),
    (d(108, -2), DEC, "1080m", "1080000000n"),
    (d(10800, -4), DEC, "1080m", ""),
    (d(300, 6), DEC, "300M", ""),
    (d(1, 12), DEC, "1T", ""),
    (d(1234567, 6), DEC, "1234567M", ""),
    (d(1234567, -3), BIN, "1234567m", ""),
    (d(3, 3), DEC, "3k", ""),
    (d(1025), BIN, "1025", ""),
    (d(0), DEC, "0", ""),
    (d(0), BIN, "0", ""),
    (d(1, 9), EXP, "1e9", ".001e12"),
    (d(1, -3), EXP, "1e-3", "0.001e0"),
    (d(1, -9), EXP, "1e-9", "1000e-12"),
    (d(80, -3), EXP, "80e-3", ""),
    (d(300, 6), EXP, "300e6", ""),
    (d(1, 12), EXP, "1e12", ""),
    (d(1, 3), EXP, "1e3", ""),
    (d(3, 3), EXP, "3e3", ""),
    (d(3, 3), DEC, "3k", ""),
    (d(0), EXP, "0", "00"),
    (d(1, -9), DEC, "1n", ""),
    (d(80, -9), DEC, "80n", ""),
    (d(1080, -9), DEC, "1080n", ""),
    (d(108, -8), DEC, "1080n", ""),
    (d(10800, -10), DEC, "1080n", ""),
    (d(1, -6), DEC, "1u", ""),
    (d(80, -6), DEC, "80u", ""),
    (d(1080, -6), DEC, "1080u", ""),
]


@pytest.mark.parametrize(("value", "fmt", "text", "alternate"), STRING_TABLE)
def test_canonical_string(value: Decimal, fmt: QuantityFormat, text: str, alternate: str) -> None:
    assert format_quantity(value, fmt) == text
    assert str(parse(text)) == text
    if alternate:
        assert str(parse(alternate)) == text
    if value:
        assert format_quantity(-value, fmt) == "-" + text


# TestQuantityParseEmit (and its negated half)
@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("1Ki", "1Ki"),
        ("1Mi", "1Mi"),
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1000M", "1G"),
        (".001Ki", "1024m"),
        (".000001Ki", "1024u"),
        (".000000001Ki", "1024n"),
        (".000000000001Ki", "2n"),
    ],
)
def test_parse_then_emit(text: str, expect: str) -> None:
    assert str(parse(text)) == expect
    assert str(parse("-" + text)) == "-" + expect


# TestScaledValue: NewScaledQuantity(1, from).ScaledValue(to)
@pytest.mark.parametrize(
    ("from_scale", "to_scale", "expected"),
    [
        (-9, -9, 1),
        (-9, -6, 1),
        (-9, -3, 1),
        (-9, 0, 1),
        (-6, -9, 1000),
        (-6, -6, 1),
        (-6, -3, 1),
        (-6, 0, 1),
        (-3, -9, 1000 * 1000),
        (-3, -6, 1000),
        (-3, -3, 1),
        (-3, 0, 1),
        (0, -9, 1000 * 1000 * 1000),
        (0, -6, 1000 * 1000),
        (0, -3, 1000),
        (0, 0, 1),
        (2, -2, 100 * 100),
    ],
)
def test_scaled_value(from_scale: int, to_scale: int, expected: int) -> None:
    assert scaled_value(Decimal(1).scaleb(from_scale), to_scale) == expected


def test_milli_and_whole_values_round_away_from_zero() -> None:
    """``MilliValue``/``Value`` of int64 amounts (``negativeScaleInt64`` in math.go): a value
    that is not exact moves away from zero, for negative values too."""
    assert milli_value("-1.5m") == -2
    assert milli_value("1.5m") == 2
    assert int_value("-0.1") == -1
    assert int_value("8Ei") == INT64_MAX  # capped when parsed, like 9Ei upstream
    assert int_value("1e30") == INT64_MAX  # past int64 upstream overflows; we saturate
