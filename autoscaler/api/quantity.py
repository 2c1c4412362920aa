"""Kubernetes resource quantities (``resource.Quantity``): parsing and canonical formatting.

Parsing follows apimachinery's ``ParseQuantity`` (``pkg/api/resource/quantity.go``): an
optional sign, digits with an optional fraction, then a binary SI suffix (Ki..Ei), a decimal
SI suffix (n, u, m, "", k, M, G, T, P, E) or a decimal exponent (``e3``, ``E-2``). Its corner
cases are kept too: the number may be missing entirely (``m``, ``Ki``, ``-`` and ``.`` all
read 0), whitespace is refused (JSON decoding trims it first: :func:`parse_json`), values are
rounded away from zero to whole nano-units, and a binary SI value is capped at the largest
int64 (``8Ei`` reads 2^63-1).

Values are kept exact as :class:`~decimal.Decimal`; formatting follows the API server's
canonical form so that ``format_quantity(parse_quantity(s))`` is stable. Deliberate
differences: text longer than ``_MAX_LENGTH`` is refused (the API server has no bound); a
decimal SI value of 10^21 or more is written ``1000E`` where the API server writes a bare
mantissa with no suffix (which would read back as a different value), and one too large to
write out that way gets a decimal exponent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import MAX_EMAX, MIN_EMIN, ROUND_UP, Context, Decimal
from enum import Enum

_MAX_LENGTH = 256
# Enough digits to keep every accepted value exact (inputs are at most _MAX_LENGTH characters).
_EXACT = Context(prec=2 * _MAX_LENGTH, Emax=MAX_EMAX, Emin=MIN_EMIN)
_NANO = Decimal("1e-9")
INT64_MAX = 2**63 - 1


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


class QuantityFormat(Enum):
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"
    DECIMAL_EXPONENT = "DecimalExponent"


_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL.items()}

# The shape the API server's scanner accepts; the suffix is interpreted afterwards.
_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
    r"(?P<suffix>[eEinumkKMGTP]*[+-]?[0-9]*)"
)
_EXPONENT = re.compile(r"[eE](?P<exp>[+-]?[0-9]+)")


@dataclass(frozen=True, slots=True)
class Quantity:
    value: Decimal
    format: QuantityFormat

    def __str__(self) -> str:
        return format_quantity(self.value, self.format)


def parse(text: str | int | float) -> Quantity:
    """Parse a quantity; raise :class:`QuantityError` with the offending text on failure."""
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a quantity")
    if isinstance(text, int):
        return Quantity(Decimal(text), QuantityFormat.DECIMAL_SI)
    if isinstance(text, float):
        if text != text or text in (float("inf"), float("-inf")):
            raise QuantityError(f"{text!r} is not a finite quantity")
        return Quantity(_round_to_nanos(Decimal(repr(text))), QuantityFormat.DECIMAL_SI)
    if not isinstance(text, str):
        raise QuantityError(
            f"{text!r} is not a quantity (expected a string such as '500m' or '4Gi')"
        )
    if len(text) > _MAX_LENGTH:
        raise QuantityError(
            f"{text[:20]!r}... is not a quantity: longer than {_MAX_LENGTH} characters"
        )
    match = _QUANTITY.fullmatch(text) if text else None
    if not match:
        raise QuantityError(
            f"{text!r} is not a quantity: expected a number with an optional suffix "
            "(n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3)"
        )
    fraction = f".{match['fraction']}" if match["fraction"] else ""
    number = Decimal(f"{match['sign']}{match['whole'] or '0'}{fraction}")
    suffix = match["suffix"]
    if suffix in _BINARY:
        value = _round_to_nanos(_EXACT.multiply(number, Decimal(2) ** _BINARY[suffix]))
        if value.copy_abs() > INT64_MAX:
            value = Decimal(INT64_MAX).copy_sign(value)
        if 0 < value.copy_abs() < 1:
            return Quantity(value, QuantityFormat.DECIMAL_SI)
        return Quantity(value, QuantityFormat.BINARY_SI)
    if suffix in _DECIMAL:
        value = number.scaleb(_DECIMAL[suffix], _EXACT)
        return Quantity(_round_to_nanos(value), QuantityFormat.DECIMAL_SI)
    exponent = _exponent(suffix)
    if exponent is None:
        raise QuantityError(f"{text!r} is not a quantity: unknown suffix {suffix!r}")
    value = number.scaleb(exponent, _EXACT)
    return Quantity(_round_to_nanos(value), QuantityFormat.DECIMAL_EXPONENT)


def _exponent(suffix: str) -> int | None:
    """The exponent of ``e<n>``, wrapped to 32 bits as the API server stores it."""
    match = _EXPONENT.fullmatch(suffix)
    if match is None:
        return None
    parsed = int(match["exp"])
    if not -(2**63) <= parsed < 2**63:
        return None
    return (parsed + 2**31) % 2**32 - 2**31


def _round_to_nanos(value: Decimal) -> Decimal:
    """Round away from zero to whole nano-units, as the API server does when it parses."""
    if value.is_zero():
        return Decimal(0)  # no negative zero
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -9:
        return value
    return value.quantize(_NANO, rounding=ROUND_UP, context=_EXACT)


def parse_quantity(text: str | int | float) -> Decimal:
    """The exact value of a quantity."""
    return parse(text).value


def parse_json(value: str | int | float) -> Quantity:
    """A quantity as decoded from JSON: a string has its surrounding whitespace trimmed."""
    return parse(value.strip() if isinstance(value, str) else value)


def format_quantity(value: Decimal | int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> str:
    """Canonical text of a value (``Quantity.String``): the largest suffix that keeps an
    integer mantissa.

    Like the API server, values are rounded away from zero to whole nano-units, and binary SI
    is used only for integers of magnitude 1024 or more (others fall back to decimal SI).
    """
    value = Decimal(value)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = _round_to_nanos(value.copy_abs())  # abs() would round to 28 digits
    if (
        fmt is QuantityFormat.BINARY_SI
        and 1024 <= magnitude <= INT64_MAX
        and magnitude == magnitude.to_integral_value()
    ):
        integer = int(magnitude)
        for suffix, shift in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if integer % (1 << shift) == 0:
                return f"{sign}{integer >> shift}{suffix}"
        return f"{sign}{integer}"
    # Every factor of ten goes to the exponent, then the exponent is brought down to a
    # multiple of three (``AsCanonicalBytes``); the mantissa stays small whatever the value.
    _, digits, exponent = magnitude.normalize(_EXACT).as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)))
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if fmt is QuantityFormat.DECIMAL_EXPONENT or exponent > 18 + 3 * _MAX_LENGTH:
        return f"{sign}{mantissa}" if exponent == 0 else f"{sign}{mantissa}e{exponent}"
    if exponent > 18:  # decimal SI stops at E (10^18)
        mantissa *= 10 ** (exponent - 18)
        exponent = 18
    return f"{sign}{mantissa}{_DECIMAL_BY_EXP[exponent]}"


def round_up(value: Decimal, scale: int) -> tuple[Decimal, bool]:
    """``value`` rounded away from zero to a multiple of 10^scale, and whether that was exact
    (``Quantity.RoundUp``)."""
    exponent = value.as_tuple().exponent
    if value.is_zero() or (isinstance(exponent, int) and exponent >= scale):
        return value, True
    rounded = value.quantize(Decimal(1).scaleb(scale), rounding=ROUND_UP, context=_EXACT)
    return rounded, rounded == value


def scaled_value(value: Decimal, scale: int) -> int:
    """``value / 10^scale`` as an integer, rounded away from zero like the API server's
    ``ScaledValue`` on int64 amounts, and saturated at the int64 bounds where the API
    server's result would overflow."""
    if value.adjusted() - scale > 19:
        return INT64_MAX if value > 0 else -INT64_MAX - 1
    rounded, _ = round_up(value, scale)
    units = int(rounded.scaleb(-scale, _EXACT))
    return max(-INT64_MAX - 1, min(INT64_MAX, units))


def milli_value(text: str | int | float) -> int:
    """The value in thousandths, rounded away from zero (how cpu is counted)."""
    return scaled_value(parse_json(text).value, -3)


def int_value(text: str | int | float) -> int:
    """The value as a whole number, rounded away from zero (memory, pods and devices)."""
    return scaled_value(parse_json(text).value, 0)
