"""What a run measures: pod waits, VM counts, resource-hours, where the provisioned vCPUs went,
and a time series for plots."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.core.model import Pod, VMPhase
from autoscaler.sim.world import SimWorld

GIB = 2**30
# The parts of the vCPU breakdown that need a walk over every node are refreshed this often (in
# virtual seconds) and held in between; requested, DaemonSet and provisioned totals are exact.
BREAKDOWN_REFRESH_SECONDS = 30.0
VCPU_BREAKDOWN: dict[str, str] = {
    "requested": "requested by workload pods",
    "daemonsets": "requested by DaemonSet pods",
    "kubelet_reserved": "reserved by kubelets",
    "idle_on_ready_nodes": "idle on Ready nodes",
    "idle_on_draining_nodes": "idle on nodes being removed",
    "vms_not_ready": "VMs without a Ready node",
}
"""Where provisioned vCPU-hours go: workload pods' requests, DaemonSet pods' requests, what
kubelets reserve, room left on Ready schedulable nodes, room left on nodes being drained or
deleted, and VMs on a host whose node is not Ready (booting, registering, failed, deleting)."""


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
    def __init__(self, world: SimWorld, never_scheduled_after: float) -> None:
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
        self.vcpu_milli_seconds = dict.fromkeys(VCPU_BREAKDOWN, 0.0)
        self._node_rates: dict[str, float] = {}
        self._node_rates_at = -BREAKDOWN_REFRESH_SECONDS
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
        self._add_breakdown(span)
        self._last = now
        if now - self._node_rates_at >= BREAKDOWN_REFRESH_SECONDS:
            self._node_rates = self._walk_nodes()
            self._node_rates_at = now

    def _add_breakdown(self, span: float) -> None:
        totals, parts = self._world.totals, self.vcpu_milli_seconds
        rates = self._node_rates
        parts["requested"] += totals.requested.cpu * span
        parts["daemonsets"] += totals.daemonset_requested.cpu * span
        held = 0.0
        for name in ("kubelet_reserved", "idle_on_draining_nodes", "vms_not_ready"):
            parts[name] += rates.get(name, 0.0) * span
            held += rates.get(name, 0.0)
        # What is left of the provisioned vCPUs is room on Ready schedulable nodes.
        rest = totals.provisioned.cpu - totals.requested.cpu - totals.daemonset_requested.cpu
        parts["idle_on_ready_nodes"] += (rest - held) * span

    def _walk_nodes(self) -> dict[str, float]:
        world = self._world
        reserved = draining_idle = ready_vcpus = 0
        for sim in world.nodes.values():
            node = sim.node
            vm = world.vms.get(sim.vm)
            if not node.ready or vm is None or vm.host is None:
                continue
            allocatable = node.allocatable.cpu
            ready_vcpus += vm.shape.cpu
            reserved += vm.shape.cpu - allocatable
            if node.unschedulable or node.deleting:
                draining_idle += allocatable - sim.state.used.cpu
        return {
            "kubelet_reserved": float(reserved),
            "idle_on_draining_nodes": float(draining_idle),
            "vms_not_ready": float(world.totals.provisioned.cpu - ready_vcpus),
        }

    def vcpu_hours_breakdown(self) -> dict[str, float]:
        return {name: round(ms / 1000 / 3600, 1) for name, ms in self.vcpu_milli_seconds.items()}

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


def _node_ready(world: SimWorld, name: str | None) -> bool:
    sim = world.nodes.get(name) if name is not None else None
    return sim is not None and sim.node.ready
