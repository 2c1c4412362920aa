"""Capped exponential backoff with jitter, so that many clients retrying do not move in step."""

from __future__ import annotations

import random


class RetryBackoff:
    """Delays ``base, 2*base, 4*base, ...`` up to ``cap``, each drawn from ``[d/2, d]``."""

    def __init__(self, base: float, cap: float, rng: random.Random | None = None) -> None:
        if base <= 0 or cap < base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base} cap={cap}")
        self.base = base
        self.cap = cap
        self.failures = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        ceiling = min(self.cap, self.base * (1 << min(self.failures, 62)))
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0
