"""Go-style durations (``time.ParseDuration``): ``"300ms"``, ``"1.5h"``, ``"1h30m"``, ``"0"``.

Durations in annotations are parsed to seconds (a float, exact to the nanosecond as Go keeps
them) and formatted back to the shortest text that parses to the same value. Negative
durations are rejected: every duration in this API is a length of time to wait.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_DOWN, Decimal
from typing import Final

_NANOS_PER_UNIT: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_UNITS_TEXT: Final = "ns, us, ms, s, m, h"
_MAX_LENGTH: Final = 64
MAX_NANOS: Final = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds (about 292 years)
_NANOS_PER_SECOND: Final = 1_000_000_000

_TERM = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


class DurationError(ValueError):
    """A string that is not an acceptable duration; ``reason`` says why without the text."""

    def __init__(self, text: object, reason: str) -> None:
        shown = f"{text[:20]!r}..." if isinstance(text, str) and len(text) > 20 else repr(text)
        super().__init__(f"{shown} {reason}")
        self.reason = reason


def parse_duration(text: object) -> float:
    """Seconds in a Go duration string; raise :class:`DurationError` naming what is wrong."""
    return parse_duration_nanos(text) / _NANOS_PER_SECOND


def parse_duration_nanos(text: object) -> int:
    """Whole nanoseconds in a Go duration string (fractions of a nanosecond are dropped)."""
    if not isinstance(text, str):
        raise DurationError(text, "is not a duration: expected a string such as '10m'")
    if len(text) > _MAX_LENGTH:
        raise DurationError(text, f"is not a duration: longer than {_MAX_LENGTH} characters")
    body = text
    if body.startswith("-"):
        raise DurationError(text, "is negative; a duration must be zero or more")
    if body.startswith("+"):
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        raise DurationError(text, "is not a duration: it is empty")
    total = Decimal(0)
    position = 0
    while position < len(body):
        match = _TERM.match(body, position)
        number, unit = (match[1], match[2]) if match else ("", "")
        if number in ("", "."):
            raise DurationError(
                text, f"is not a duration: expected a number at {body[position:]!r}"
            )
        if not unit:
            raise DurationError(
                text, f"is not a duration: {number!r} has no unit (use {_UNITS_TEXT})"
            )
        if unit not in _NANOS_PER_UNIT:
            raise DurationError(
                text, f"is not a duration: unknown unit {unit!r} (use {_UNITS_TEXT})"
            )
        total += Decimal(number) * _NANOS_PER_UNIT[unit]
        if total > MAX_NANOS:
            raise DurationError(text, "is too long a duration: at most about 292 years")
        assert match is not None
        position = match.end()
    return int(total.to_integral_value(rounding=ROUND_DOWN))


def format_duration(seconds: float) -> str:
    """The shortest Go duration text for ``seconds``, e.g. ``"1h30m"``, ``"1.5s"``, ``"300ms"``."""
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(seconds, "seconds cannot be written as a duration")
    nanos = int((Decimal(seconds) * _NANOS_PER_SECOND).to_integral_value())
    if nanos > MAX_NANOS:
        raise DurationError(seconds, "seconds is too long a duration: at most about 292 years")
    return format_duration_nanos(nanos)


def format_duration_nanos(nanos: int) -> str:
    if nanos < 0:
        raise DurationError(nanos, "ns is negative; a duration must be zero or more")
    if nanos == 0:
        return "0s"
    if nanos < _NANOS_PER_SECOND:
        for unit in ("ms", "us"):
            per = _NANOS_PER_UNIT[unit]
            if nanos >= per:
                return _with_fraction(nanos, per) + unit
        return f"{nanos}ns"
    hours, rest = divmod(nanos, _NANOS_PER_UNIT["h"])
    minutes, rest = divmod(rest, _NANOS_PER_UNIT["m"])
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if rest:
        parts.append(_with_fraction(rest, _NANOS_PER_SECOND) + "s")
    return "".join(parts)


def _with_fraction(nanos: int, per: int) -> str:
    whole, fraction = divmod(nanos, per)
    if not fraction:
        return str(whole)
    digits = len(str(per)) - 1
    return f"{whole}.{fraction:0{digits}d}".rstrip("0")
