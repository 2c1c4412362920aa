"""When to decide: batch pending pods, and scan periodically.

Deciding on every pod that turns unschedulable wastes work and sizes VMs for a sliver of a
burst; waiting too long delays every pod. Like Karpenter's batcher, a decision is due once no
new pending pod has arrived for ``idle`` seconds, or ``maximum`` seconds after the first one of
the batch, whichever comes first; without pending pods, a periodic scan still runs (scale-down
timers, launch deadlines). The clock is injected, so the simulator and the controller share this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchWindows:
    idle_seconds: float = 1.0
    max_seconds: float = 10.0
    scan_interval_seconds: float = 10.0


class Batcher:
    def __init__(self, windows: BatchWindows = BatchWindows()) -> None:
        self.windows = windows
        self._seen: set[str] = set()
        self._batch_started: float | None = None
        self._last_arrival: float | None = None
        self._last_decision: float | None = None

    def observe(self, pending_keys: Iterable[str], now: float) -> None:
        """Record the pending pods as of ``now``; only keys not seen before open or extend
        a batch."""
        current = set(pending_keys)
        if current - self._seen:
            if self._batch_started is None:
                self._batch_started = now
            self._last_arrival = now
        self._seen = current

    def due_at(self) -> float:
        """The time of the next decision (may be in the past: then it is due now)."""
        candidates: list[float] = []
        if self._batch_started is not None and self._last_arrival is not None:
            candidates.append(
                min(
                    self._last_arrival + self.windows.idle_seconds,
                    self._batch_started + self.windows.max_seconds,
                )
            )
        if self._last_decision is None:
            candidates.append(float("-inf"))
        else:
            candidates.append(self._last_decision + self.windows.scan_interval_seconds)
        return min(candidates)

    def is_due(self, now: float) -> bool:
        return now >= self.due_at()

    def decided(self, now: float) -> None:
        """A decision ran at ``now``: the batch is closed."""
        self._batch_started = None
        self._last_arrival = None
        self._last_decision = now
