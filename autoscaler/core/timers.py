"""Timers of the decision core, all against the injected clock passed to each call."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def format_duration(seconds: float) -> str:
    """A short human duration such as ``45s``, ``6m0s`` or ``2h5m``."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


class FirstSeen:
    """Remembers since when each key has been continuously observed in some state.

    ``observe`` keeps the earliest time of a key still present and forgets keys that are absent,
    so a key that leaves the state and comes back starts over.
    """

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def observe(self, keys: Iterable[str], now: float) -> None:
        present = dict.fromkeys(keys)
        self._since = {key: self._since.get(key, now) for key in present}

    def mark(self, key: str, now: float) -> float:
        """Observe one key without forgetting others; returns since when it has been seen."""
        return self._since.setdefault(key, now)

    def forget(self, key: str) -> None:
        self._since.pop(key, None)

    def since(self, key: str) -> float | None:
        return self._since.get(key)

    def elapsed(self, key: str, now: float) -> float:
        since = self._since.get(key)
        return 0.0 if since is None else now - since

    def keys(self) -> list[str]:
        return list(self._since)

    def __contains__(self, key: object) -> bool:
        return key in self._since


@dataclass(frozen=True, slots=True)
class BackoffState:
    failures: int
    until: float


class KeyedBackoff:
    """Exponential backoff per key: ``base * 2**(failures-1)`` capped at ``maximum``."""

    def __init__(self, base: float, maximum: float) -> None:
        self._base = base
        self._maximum = maximum
        self._state: dict[str, BackoffState] = {}

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        # Cap the exponent so that a long run of failures cannot overflow the float.
        return float(min(self._maximum, self._base * 2 ** min(failures - 1, 62)))

    def fail(self, key: str, now: float) -> BackoffState:
        previous = self._state.get(key)
        failures = (previous.failures if previous else 0) + 1
        until = max(now + self.delay(failures), previous.until if previous else now)
        state = BackoffState(failures, until)
        self._state[key] = state
        return state

    def reset(self, key: str) -> None:
        self._state.pop(key, None)

    def state(self, key: str) -> BackoffState | None:
        return self._state.get(key)

    def remaining(self, key: str, now: float) -> float:
        """Seconds of backoff left for ``key``; 0 when it may act."""
        state = self._state.get(key)
        return 0.0 if state is None else max(0.0, state.until - now)
