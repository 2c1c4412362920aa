"""A discrete-event engine in virtual time.

Events sit in a heap ordered by ``(time, priority, sequence)``: ties at the same instant run by
priority (lower first) and then in the order they were scheduled, so a run is deterministic.
Randomness comes from named streams derived from the seed, one per concern, so that a new draw
in one concern never shifts the numbers another concern sees.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

Callback = Callable[[], None]


@dataclass(order=True, slots=True)
class _Entry:
    time: float
    priority: int
    sequence: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class EventHandle:
    """Lets the scheduler of an event cancel it before it runs."""

    __slots__ = ("_entry",)

    def __init__(self, entry: _Entry) -> None:
        self._entry = entry

    @property
    def time(self) -> float:
        return self._entry.time

    def cancel(self) -> None:
        self._entry.cancelled = True


class Engine:
    """Runs callbacks at virtual times; ``now`` is the time of the event being run."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._queue: list[_Entry] = []
        self._sequence = 0
        self.events_run = 0

    def at(self, time: float, callback: Callback, priority: int = 0) -> EventHandle:
        """Run ``callback`` at ``time`` (never earlier than now)."""
        self._sequence += 1
        entry = _Entry(max(time, self.now), priority, self._sequence, callback)
        heapq.heappush(self._queue, entry)
        return EventHandle(entry)

    def after(self, delay: float, callback: Callback, priority: int = 0) -> EventHandle:
        return self.at(self.now + max(delay, 0.0), callback, priority)

    def every(
        self, interval: float, callback: Callback, priority: int = 0, start: float | None = None
    ) -> None:
        """Run ``callback`` every ``interval`` seconds from ``start`` (default: now + interval)."""
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")

        def tick() -> None:
            callback()
            self.after(interval, tick, priority)

        self.at(self.now + interval if start is None else start, tick, priority)

    def next_time(self) -> float | None:
        while self._queue and self._queue[0].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0].time if self._queue else None

    def run_until(self, end: float, on_step: Callable[[float], None] | None = None) -> None:
        """Run every event due at or before ``end``; then ``now`` is ``end``.

        ``on_step(time)`` is called before each event, e.g. to integrate statistics up to it.
        """
        queue = self._queue
        while queue and queue[0].time <= end:
            entry = heapq.heappop(queue)
            if entry.cancelled:
                continue
            if on_step is not None:
                on_step(entry.time)
            self.now = entry.time
            self.events_run += 1
            entry.callback()
        if on_step is not None:
            on_step(end)
        self.now = end


class RandomStreams:
    """Independent ``random.Random`` streams derived from one seed, one per named concern."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._streams: dict[str, random.Random] = {}

    def __call__(self, concern: str) -> random.Random:
        stream = self._streams.get(concern)
        if stream is None:
            digest = hashlib.sha256(f"{self.seed}:{concern}".encode()).digest()
            stream = random.Random(int.from_bytes(digest[:8], "big"))
            self._streams[concern] = stream
        return stream
