"""Kubernetes resource quantities (``resource.Quantity``): parsing and canonical formatting.

The grammar is the API server's: an optional sign, a decimal number, then either a binary SI
suffix (Ki..Ei), a decimal SI suffix (n, u, m, "", k, M, G, T, P, E) or a decimal exponent
(``e3``, ``E-2``). Values are kept exact as :class:`~decimal.Decimal`; formatting follows the
API server's canonical form so that ``format_quantity(parse_quantity(s))`` is stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_UP, Context, Decimal, InvalidOperation
from enum import Enum

# Inputs are at most _MAX_LENGTH characters, so 200 digits keep every accepted value exact.
_EXACT = Context(prec=200)
_MAX_LENGTH = 100
_MAX_EXPONENT = 30
_NANO = Decimal("1e-9")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


class QuantityFormat(Enum):
    BINARY_SI = "BinarySI"
    DECIMAL_SI = "DecimalSI"
    DECIMAL_EXPONENT = "DecimalExponent"


_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {exp: suffix for suffix, exp in _DECIMAL.items()}

_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?[0-9]+)|(?P<dec>[numkMGTPE])?)"
)


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
    match = _QUANTITY.fullmatch(text.strip())
    if not match:
        raise QuantityError(
            f"{text!r} is not a quantity: expected a number with an optional suffix "
            "(n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei) or exponent (e3)"
        )
    try:
        number = Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid numbers
        raise QuantityError(f"{text!r} is not a quantity") from exc
    if match["bin"]:
        value = _EXACT.multiply(number, Decimal(2) ** _BINARY[match["bin"]])
        return Quantity(_round_to_nanos(value), QuantityFormat.BINARY_SI)
    if match["exp"]:
        exponent = int(match["exp"][1:])
        if abs(exponent) > _MAX_EXPONENT:
            raise QuantityError(f"{text!r} is out of range (exponent beyond ±{_MAX_EXPONENT})")
        value = number.scaleb(exponent, _EXACT)
        return Quantity(_round_to_nanos(value), QuantityFormat.DECIMAL_EXPONENT)
    value = number.scaleb(_DECIMAL[match["dec"] or ""], _EXACT)
    return Quantity(_round_to_nanos(value), QuantityFormat.DECIMAL_SI)


def _round_to_nanos(value: Decimal) -> Decimal:
    """Round away from zero to whole nano-units, as the API server does when it parses."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -9:
        return value
    return value.quantize(_NANO, rounding=ROUND_UP, context=_EXACT)


def parse_quantity(text: str | int | float) -> Decimal:
    """The exact value of a quantity."""
    return parse(text).value


def format_quantity(value: Decimal | int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> str:
    """Canonical text of a value: the largest suffix that keeps an integer mantissa.

    Like the API server, values are rounded away from zero to whole nano-units, and binary SI
    is used only for integers of magnitude 1024 or more (others fall back to decimal SI).
    """
    value = Decimal(value)
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    magnitude = value.copy_abs()  # abs() would round to the default 28 digits
    if (
        fmt is QuantityFormat.BINARY_SI
        and magnitude >= 1024
        and magnitude == magnitude.to_integral_value()
    ):
        integer = int(magnitude)
        for suffix, shift in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if integer % (1 << shift) == 0:
                return f"{sign}{integer >> shift}{suffix}"
        return f"{sign}{integer}"
    nanos = int(_EXACT.multiply(magnitude, Decimal(10) ** 9).to_integral_value(rounding=ROUND_UP))
    exponent = -9
    # Decimal SI stops at E (10^18); a decimal exponent may grow further.
    top = 18 if fmt is not QuantityFormat.DECIMAL_EXPONENT else None
    while nanos % 1000 == 0 and (top is None or exponent < top):
        nanos //= 1000
        exponent += 3
    if fmt is QuantityFormat.DECIMAL_EXPONENT:
        return f"{sign}{nanos}" if exponent == 0 else f"{sign}{nanos}e{exponent}"
    return f"{sign}{nanos}{_DECIMAL_BY_EXP[exponent]}"


def milli_value(text: str | int | float) -> int:
    """The value in thousandths, rounded up (how cpu is counted)."""
    return int((parse_quantity(text) * 1000).to_integral_value(rounding=ROUND_CEILING))


def int_value(text: str | int | float) -> int:
    """The value as a whole number, rounded up (how memory, pods and devices are counted)."""
    return int(parse_quantity(text).to_integral_value(rounding=ROUND_CEILING))
