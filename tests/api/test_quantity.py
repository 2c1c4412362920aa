from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.quantity import (
    Quantity,
    QuantityError,
    QuantityFormat,
    format_quantity,
    int_value,
    milli_value,
    parse,
    parse_quantity,
)

DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15}
BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


@pytest.mark.parametrize(("suffix", "exponent"), sorted(DECIMAL_SUFFIXES.items()))
def test_decimal_suffix_scales_by_power_of_ten(suffix: str, exponent: int) -> None:
    quantity = parse(f"3{suffix}")
    assert quantity.value == Decimal(3).scaleb(exponent)
    assert quantity.format is QuantityFormat.DECIMAL_SI


def test_exa_suffix_is_ten_to_the_eighteenth() -> None:
    assert parse_quantity("2E") == 2 * 10**18


@pytest.mark.parametrize(("suffix", "shift"), sorted(BINARY_SUFFIXES.items()))
def test_binary_suffix_scales_by_power_of_two(suffix: str, shift: int) -> None:
    quantity = parse(f"5{suffix}")
    assert quantity.value == 5 * 2**shift
    assert quantity.format is QuantityFormat.BINARY_SI


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e+3", Decimal(1000)),
        ("5e-3", Decimal("0.005")),
        ("1.5E-2", Decimal("0.015")),
        ("-2e2", Decimal(-200)),
    ],
)
def test_exponent_with_either_case_and_sign(text: str, expected: Decimal) -> None:
    quantity = parse(text)
    assert quantity.value == expected
    assert quantity.format is QuantityFormat.DECIMAL_EXPONENT


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("0.5Gi", Decimal(2**29)),
        ("+7", Decimal(7)),
        ("-7m", Decimal("-0.007")),
        ("+.5k", Decimal(500)),
        ("007", Decimal(7)),
    ],
)
def test_decimals_and_signs(text: str, expected: Decimal) -> None:
    assert parse_quantity(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 2Gi ",
        "abc",
        "1.2.3",
        "1 Gi",
        "1gi",
        "1KI",
        "1K",
        "1Ki2",
        "1e",
        "1e+",
        "--1",
        "+-1",
        "1i",
        "0x10",
        "1_000",
        "١٢",  # non-ASCII digits
        "9" * 257,
        "1Gi\n1",
    ],
)
def test_bad_text_is_rejected_with_the_text_in_the_message(text: str) -> None:
    with pytest.raises(QuantityError) as raised:
        parse(text)
    assert repr(text[:20]) in str(raised.value)


@pytest.mark.parametrize("value", [True, None, [], {}, float("nan"), float("inf")])
def test_non_quantities_are_rejected(value: object) -> None:
    with pytest.raises(QuantityError):
        parse(value)  # type: ignore[arg-type]


def test_numbers_from_yaml_are_decimal_si() -> None:
    assert parse(3) == Quantity(Decimal(3), QuantityFormat.DECIMAL_SI)
    assert parse(0.25).value == Decimal("0.25")


def test_values_below_a_nano_unit_round_away_from_zero() -> None:
    assert parse_quantity("0.0000000001") == Decimal("1e-9")
    assert parse_quantity("-1e-12") == Decimal("-1e-9")
    assert parse_quantity("1.0000000001") == Decimal("1.000000001")


def test_large_values_keep_every_digit() -> None:
    digits = "123456789012345678901234567890123456789012345678901234567890123"
    assert parse_quantity(digits + "E") == int(digits) * 10**18


@pytest.mark.parametrize(
    ("value", "fmt", "text"),
    [
        (0, QuantityFormat.DECIMAL_SI, "0"),
        (1500, QuantityFormat.DECIMAL_SI, "1500"),
        (2000, QuantityFormat.DECIMAL_SI, "2k"),
        (Decimal("0.1"), QuantityFormat.DECIMAL_SI, "100m"),
        (Decimal("0.0015"), QuantityFormat.DECIMAL_SI, "1500u"),
        (Decimal("-0.5"), QuantityFormat.DECIMAL_SI, "-500m"),
        (10**18, QuantityFormat.DECIMAL_SI, "1E"),
        (10**21, QuantityFormat.DECIMAL_SI, "1000E"),
        (2**30, QuantityFormat.BINARY_SI, "1Gi"),
        (3 * 2**29, QuantityFormat.BINARY_SI, "1536Mi"),
        (1536, QuantityFormat.BINARY_SI, "1536"),
        (1000, QuantityFormat.BINARY_SI, "1k"),  # below 1024: decimal SI, as the API server
        (Decimal("1024.5"), QuantityFormat.BINARY_SI, "1024500m"),
        (-(2**40), QuantityFormat.BINARY_SI, "-1Ti"),
        (1000, QuantityFormat.DECIMAL_EXPONENT, "1e3"),
        (10**21, QuantityFormat.DECIMAL_EXPONENT, "1e21"),
        (Decimal("0.012"), QuantityFormat.DECIMAL_EXPONENT, "12e-3"),
    ],
)
def test_canonical_text(value: Decimal | int, fmt: QuantityFormat, text: str) -> None:
    assert format_quantity(value, fmt) == text


def test_formatting_rounds_sub_nano_values_up() -> None:
    assert format_quantity(Decimal("1e-12")) == "1n"
    assert format_quantity(Decimal("-1e-12")) == "-1n"


def test_str_of_a_quantity_is_its_canonical_text() -> None:
    assert str(parse("1024Mi")) == "1Gi"
    assert str(parse("1000m")) == "1"


def test_milli_and_int_values_round_up() -> None:
    assert milli_value("1.0001") == 1001
    assert milli_value("250m") == 250
    assert int_value("1.2") == 2
    assert int_value("1Gi") == 2**30
    assert int_value("-1.5") == -2  # away from zero, as the API server's int64 amounts


# Properties -------------------------------------------------------------------------------
_SUFFIXES = [*DECIMAL_SUFFIXES, "E", *BINARY_SUFFIXES]


@st.composite
def quantity_texts(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "+", "-"]))
    whole = draw(st.text("0123456789", max_size=12))
    fraction = draw(st.text("0123456789", max_size=10))
    number = whole + ("." + fraction if draw(st.booleans()) else "")
    if not any(ch.isdigit() for ch in number):
        number = "0" + number
    if draw(st.booleans()):
        tail = draw(st.sampled_from(_SUFFIXES))
    else:
        tail = draw(st.sampled_from("eE")) + str(draw(st.integers(-30, 30)))
    return sign + number + tail


@settings(max_examples=300, deadline=None)
@given(quantity_texts())
def test_formatting_then_parsing_gives_the_same_value(text: str) -> None:
    quantity = parse(text)
    canonical = format_quantity(quantity.value, quantity.format)
    assert parse_quantity(canonical) == quantity.value


@settings(max_examples=300, deadline=None)
@given(quantity_texts())
def test_canonical_text_is_stable(text: str) -> None:
    canonical = str(parse(text))
    assert str(parse(canonical)) == canonical


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_quantity_error(text: str) -> None:
    try:
        value = parse_quantity(text)
    except QuantityError:
        return
    assert value.is_finite()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**63 - 1), max_value=2**63 - 1))
def test_integers_survive_binary_formatting(value: int) -> None:
    """Within int64: past it, binary SI values are capped when parsed."""
    assert parse_quantity(format_quantity(value, QuantityFormat.BINARY_SI)) == value


@pytest.mark.parametrize("text", ["1e2147483647", "-7e2000000000", "9e999999", "1E1000"])
def test_huge_exponents_parse_and_format_without_expanding_the_number(text: str) -> None:
    """The API server takes any 32-bit exponent; such a value must neither hang nor grow a
    billion-digit integer here, and its text must read back as the same value."""
    quantity = parse(text)
    assert parse_quantity(str(quantity)) == quantity.value
    assert int_value(text) in (2**63 - 1, -(2**63))
