"""Durations in scenario files: a number of seconds or a Go duration string such as ``"1h30m"``."""

from __future__ import annotations

import math
from typing import Any

from autoscaler.api.duration import DurationError, parse_duration


def parse_seconds(value: Any) -> float:
    """Seconds in ``value``; raise ValueError saying what is accepted."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: use seconds or a string such as '10m'")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{value!r} is not a duration: seconds must be finite and >= 0")
        return float(value)
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ValueError(str(exc)) from None
