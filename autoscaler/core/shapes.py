"""The VM shapes a pool may launch: the grid of the tenant's bounds, narrowed by the pool.

A catalog answers the two questions sizing asks: the largest shape a bare-metal host can
still take, and the smallest shape whose node would hold a given load.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Final

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds
from autoscaler.api.resources import CPU, MEMORY
from autoscaler.core.overhead import (
    LAUNCHER_CPU_MILLICORES,
    host_footprint,
    kubelet_reserved,
    node_allocatable,
)

# A grid finer than this is sampled evenly (every sample is still on the grid), so that a
# platform team that writes ``step: 1`` does not make sizing enumerate billions of shapes.
MAX_GRID_POINTS: Final = 1024


def grid(bounds: IntRange, pool: IntRange, whole: int = 1) -> list[int]:
    """Values both ranges allow, ascending; with ``whole`` > 1, multiples of it where the
    grid has any."""
    low, high = max(bounds.min, pool.min), min(bounds.max, pool.max)
    first = bounds.round_up(low)
    if first is None or first > high:
        return []
    count = (high - first) // bounds.step + 1
    stride = max(1, -(-count // MAX_GRID_POINTS))
    values = [first + i * bounds.step for i in range(0, count, stride)]
    values = [v for v in values if pool.contains(v)]
    if whole > 1:
        round_values = [v for v in values if v % whole == 0]
        values = round_values or values
    return values


class ShapeCatalog:
    """Every allowed shape of a pool, indexed by vCPUs then memory."""

    def __init__(self, bounds: ShapeBounds, settings: PoolSettings) -> None:
        self._cpus = grid(bounds.cpu, settings.cpu, whole=1000)
        self._memories = grid(bounds.memory, settings.memory)
        memories = self._memories
        self._alloc_memory = [node_allocatable(Shape(1000, m)).memory for m in memories]
        self._alloc_cpu = (
            [node_allocatable(Shape(c, memories[0])).cpu for c in self._cpus] if memories else []
        )
        # For each cpu count, the slice of memories that memoryPerCPU allows.
        self._memory_slices: list[tuple[int, int]] = []
        for cpu in self._cpus:
            lo = bisect_left(memories, -(-bounds.memory_per_cpu_min * cpu // 1000))
            hi = bisect_right(memories, bounds.memory_per_cpu_max * cpu // 1000)
            self._memory_slices.append((lo, hi))
        self._others = node_allocatable(Shape(1000, memories[0] if memories else 0))

    @property
    def empty(self) -> bool:
        return not any(lo < hi for lo, hi in self._memory_slices)

    def shapes(self) -> list[Shape]:
        """All shapes, smallest first (by vCPUs, then memory)."""
        return [
            Shape(cpu, self._memories[i])
            for cpu, (lo, hi) in zip(self._cpus, self._memory_slices, strict=True)
            for i in range(lo, hi)
        ]

    @property
    def smallest(self) -> Shape | None:
        for cpu, (lo, hi) in zip(self._cpus, self._memory_slices, strict=True):
            if lo < hi:
                return Shape(cpu, self._memories[lo])
        return None

    @property
    def largest(self) -> Shape | None:
        return self.largest_fitting(None)

    def largest_fitting(self, hosts_free: Sequence[Mapping[str, int]] | None) -> Shape | None:
        """The shape with the most vCPUs, then the most memory, whose host footprint fits one
        of ``hosts_free`` (any shape when None)."""
        memories = self._memories
        for index in range(len(self._cpus) - 1, -1, -1):
            cpu = self._cpus[index]
            lo, hi = self._memory_slices[index]
            if lo >= hi:
                continue
            if hosts_free is None:
                return Shape(cpu, memories[hi - 1])
            need_cpu = cpu + LAUNCHER_CPU_MILLICORES
            room = max(
                (h.get(MEMORY, 0) for h in hosts_free if h.get(CPU, 0) >= need_cpu), default=-1
            )
            # The footprint grows with the guest's memory: bisect for the largest that fits.
            left, right = lo, hi
            while left < right:
                mid = (left + right) // 2
                if host_footprint(Shape(cpu, memories[mid])).memory <= room:
                    left = mid + 1
                else:
                    right = mid
            if left > lo:
                return Shape(cpu, memories[left - 1])
        return None

    def efficient_cpu(self, per_node_cpu: int, max_share: float) -> int | None:
        """The fewest vCPUs (in millicores) of a shape whose node loses at most ``max_share``
        of its cpu to kubelet reservations plus ``per_node_cpu`` (DaemonSet pods); the most
        vCPUs when none does, None for an empty catalog."""
        candidates = [
            cpu for cpu, (lo, hi) in zip(self._cpus, self._memory_slices, strict=True) if lo < hi
        ]
        for cpu in candidates:
            lost = kubelet_reserved(Shape(cpu, self._memories[0])).cpu + per_node_cpu
            if lost <= max_share * cpu:
                return cpu
        return candidates[-1] if candidates else None

    def allocatable_cpu(self, cpu: int) -> int:
        """The allocatable cpu of a node with ``cpu`` millicores (it does not vary with memory)."""
        return node_allocatable(Shape(cpu, self._memories[0] if self._memories else 0)).cpu

    def most_memory_for(self, cpu: int) -> int:
        """The most allocatable memory of a shape with the fewest vCPUs whose node holds
        ``cpu`` millicores (0 when none does)."""
        for index, alloc_cpu in enumerate(self._alloc_cpu):
            lo, hi = self._memory_slices[index]
            if alloc_cpu >= cpu and lo < hi:
                return self._alloc_memory[hi - 1]
        return 0

    def smallest_holding(self, load: Mapping[str, int]) -> Shape | None:
        """The smallest shape whose node allocatable holds ``load``, or None."""
        for name, amount in load.items():
            if name not in (CPU, MEMORY) and amount > self._others.get(name, 0):
                return None
        need_cpu, need_memory = load.get(CPU, 0), load.get(MEMORY, 0)
        alloc_memory = self._alloc_memory
        for index, cpu in enumerate(self._cpus):
            if self._alloc_cpu[index] < need_cpu:
                continue
            lo, hi = self._memory_slices[index]
            found = bisect_left(alloc_memory, need_memory, lo, hi) if lo < hi else hi
            if found < hi:
                return Shape(cpu, self._memories[found])
        return None


@lru_cache(maxsize=256)
def catalog(bounds: ShapeBounds, settings: PoolSettings) -> ShapeCatalog:
    """The catalog of a pool, computed once per distinct bounds and settings."""
    return ShapeCatalog(bounds, settings)
