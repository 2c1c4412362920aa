"""What a run measures: pod waits, VM counts, resource-hours and a time series for plots."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.core.model import Pod, VMPhase
from autoscaler.sim.world import World

GIB = 2**30


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return ordered[int(rank) - 1]


@dataclass
class Series:
    time: list[float] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    launching: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    draining: list[int] = field(default_factory=list)
    cpu_requested: list[float] = field(default_factory=list)  # cores
    cpu_provisioned: list[float] = field(default_factory=list)
    memory_requested: list[float] = field(default_factory=list)  # GiB
    memory_provisioned: list[float] = field(default_factory=list)


class Stats:
    def __init__(self, world: World, never_scheduled_after: float) -> None:
        self._world = world
        self._last = 0.0
        self.never_scheduled_after = never_scheduled_after
        self.cpu_milli_seconds_provisioned = 0.0
        self.cpu_milli_seconds_requested = 0.0
        self.memory_byte_seconds_provisioned = 0.0
        self.memory_byte_seconds_requested = 0.0
        self.waits: list[float] = []
        self.abandoned: list[tuple[str, float]] = []  # pods deleted while still pending, waited
        self.series = Series()
        world.bind_listeners.append(self._bound)
        world.pod_listeners.append(self._gone)

    def advance(self, now: float) -> None:
        """Integrate the running totals up to ``now``."""
        span = now - self._last
        if span <= 0:
            return
        totals = self._world.totals
        self.cpu_milli_seconds_provisioned += totals.provisioned.cpu * span
        self.memory_byte_seconds_provisioned += totals.provisioned.memory * span
        self.cpu_milli_seconds_requested += totals.requested.cpu * span
        self.memory_byte_seconds_requested += totals.requested.memory * span
        self._last = now

    def _bound(self, pod: Pod) -> None:
        if not pod.is_daemonset_pod:
            self.waits.append(self._world.now() - pod.created)

    def _gone(self, pod: Pod, why: str) -> None:
        if pod.node_name is None and not pod.is_daemonset_pod:
            waited = self._world.now() - pod.created
            if waited >= self.never_scheduled_after:
                self.abandoned.append((pod.key, waited))

    def sample(self, now: float) -> None:
        world = self._world
        series = self.series
        ready = draining = 0
        for sim in world.nodes.values():
            node = sim.node
            if node.unschedulable or node.deleting:
                draining += 1
            elif node.ready:
                ready += 1
        launching = sum(
            1
            for vm in world.vms.values()
            if vm.phase not in (VMPhase.DELETING, VMPhase.FAILED)
            and not _node_ready(world, vm.node_name)
        )
        totals = world.totals
        series.time.append(now)
        series.pending.append(sum(1 for p in world.unbound_pods() if not p.is_daemonset_pod))
        series.launching.append(launching)
        series.ready.append(ready)
        series.draining.append(draining)
        series.cpu_requested.append(totals.requested.cpu / 1000)
        series.cpu_provisioned.append(totals.provisioned.cpu / 1000)
        series.memory_requested.append(totals.requested.memory / GIB)
        series.memory_provisioned.append(totals.provisioned.memory / GIB)

    def never_scheduled(self, now: float) -> list[str]:
        """Pods that waited past the horizon and were never bound (at the end or deleted)."""
        waiting = [
            p.key
            for p in self._world.unbound_pods()
            if not p.is_daemonset_pod and now - p.created >= self.never_scheduled_after
        ]
        return sorted([key for key, _ in self.abandoned] + waiting)


def _node_ready(world: World, name: str | None) -> bool:
    sim = world.nodes.get(name) if name is not None else None
    return sim is not None and sim.node.ready
