"""The controller loop around a decision policy, in virtual time.

Like the real controller it batches pending pods (the core's Batcher: idle window 1 s, max
window 10 s), scans periodically (every 10 s), builds a fresh Snapshot for every decision and
hands the Plan to the actuator. A scan whose inputs did not change since the last decision and
whose last Plan did nothing is skipped, unless a timer of the policy may have come due.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Protocol

from autoscaler.core.actions import Plan
from autoscaler.core.batching import Batcher, BatchWindows
from autoscaler.core.model import Snapshot

# A timer due exactly at a scan fires then or, if it compares strictly, at the next scan:
# each wake-up is kept for both.
_STRICTLY_AFTER = 1e-6


class Policy(Protocol):
    def decide(self, snapshot: Snapshot, now: float) -> Plan: ...


class Controller:
    def __init__(
        self,
        policy: Policy,
        snapshot: Callable[[], Snapshot],
        pending: Callable[[], Iterable[str]],
        revision: Callable[[], int],
        execute: Callable[[Plan], None],
        durations: Iterable[float],
        windows: BatchWindows | None = None,
        batch_pending: bool = True,
        timers: Callable[[Snapshot, float], Iterable[float]] | None = None,
        skip_unchanged: bool = True,
    ) -> None:
        self._policy = policy
        self._snapshot = snapshot
        self._pending = pending
        self._observed_revision = -1
        self._revision = revision
        self._execute = execute
        self._durations = sorted({d for d in durations if d > 0})
        self._batcher = Batcher(windows or BatchWindows())
        self._batch_pending = batch_pending
        self._timers = timers
        self._skip_unchanged = skip_unchanged
        self._decided_revision = -1
        self._last_acted = True
        self._changed = True
        self._wakeups: list[float] = []
        self.decisions = 0
        self.skipped = 0
        self.last_plan = Plan()

    def tick(self, now: float) -> None:
        revision = self._revision()
        if self._batch_pending and revision != self._observed_revision:
            self._observed_revision = revision
            self._batcher.observe(self._pending(), now)
        if not self._batcher.is_due(now):
            return
        if self._can_skip(now):
            self.skipped += 1
            self._batcher.decided(now)
            return
        self._decide(self._snapshot(), now)

    def _can_skip(self, now: float) -> bool:
        if (
            not self._skip_unchanged
            or self._last_acted
            or self._revision() != self._decided_revision
        ):
            return False
        due = False
        while self._wakeups and self._wakeups[0] <= now:
            heapq.heappop(self._wakeups)
            due = True
        return not due

    def _decide(self, snapshot: Snapshot, now: float) -> None:
        changed = self._revision() != self._decided_revision or self._last_acted
        plan = self._policy.decide(snapshot, now)
        self.decisions += 1
        self.last_plan = plan
        self._batcher.decided(now)
        self._decided_revision = self._revision()
        self._last_acted = bool(plan.actions)
        self._plan_wakeups(snapshot, now, changed or self._last_acted)
        if plan.actions:
            self._execute(plan)

    def _plan_wakeups(self, snapshot: Snapshot, now: float, changed: bool) -> None:
        times: set[float] = set()
        if changed:
            times.update(now + d for d in self._durations)
            for pool in snapshot.pools:
                if pool.settings is not None:
                    times.add(now + pool.settings.scale_down_unneeded_seconds)
        if self._timers is not None:
            times.update(self._timers(snapshot, now))
        for t in times:
            if t > now:
                heapq.heappush(self._wakeups, t)
            if t >= now:
                heapq.heappush(self._wakeups, t + _STRICTLY_AFTER)
