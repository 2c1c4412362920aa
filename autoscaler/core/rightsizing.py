"""Right-sizing: new VMs for the pods that no existing or launching node can take.

Two levels. Pods into VMs: first-fit decreasing by dominant share into bins of the largest
shape that the pool, the tenant's bounds and the roomiest bare-metal host allow; then each bin
shrinks to the smallest allowed shape whose node still holds its pods. VMs onto hosts:
first-fit decreasing by host footprint; a VM that no host can take is split in two and each
half sized and placed again, down to single pods. A pool is sized for one zone at a time: its
planned nodes carry the zone's labels and its VMs go only on hosts of that zone.

With topology filters, each new VM joins the plan's topology domains as it is opened, so that
topology spread and inter-pod affinity decide which pods may share it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Final

from autoscaler.api.policy import Shape, ShapeBounds
from autoscaler.api.resources import CPU, MEMORY, PODS, Resources
from autoscaler.core.actions import Reason, Verdict
from autoscaler.core.cost import vcpu_equivalents
from autoscaler.core.equivalence import PodClass, group_equivalent
from autoscaler.core.future_node import future_node_labels
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    NO_ZONE,
    Pod,
    Pool,
    Zone,
)
from autoscaler.core.nodeindex import NodeIndex
from autoscaler.core.overhead import host_footprint, node_allocatable
from autoscaler.core.plan_budget import PlanBudget
from autoscaler.core.predicates import NodeState, amounts
from autoscaler.core.scheduling import place_class
from autoscaler.core.scoring import queue_order, schedule
from autoscaler.core.shapes import ShapeCatalog, catalog
from autoscaler.core.topology_filters import TopologyFilters, needs_topology_filters

# While a pool grows, its new VMs are at least the smallest shape whose kubelet reservations
# and DaemonSet pods take at most this share of its cpu.
GROWTH_OVERHEAD_SHARE: Final = 0.05
# ... once its recent growth is at least this share of such a VM: a one-off launch is no trend.
GROWTH_EVIDENCE_SHARE: Final = 0.25
# The tenant's scheduler, not this plan, decides which pods land on a new VM, so each VM gets
# the memory per vCPU of all the pods sized for (and the pool's recent growth), plus this
# margin: a VM whose memory fills first strands vCPUs, which cost more than memory.
MIX_MEMORY_MARGIN: Final = 0.15
# How many times :meth:`_PoolSizer.as_scheduled` asks the scheduler again after growing
# VMs for the pods it left out.
SCHEDULER_ROUNDS: Final = 4
# The most pods times VMs of one pool's plan that are checked against the scheduler's
# placement (some hundredths of a second of scoring).
SCHEDULED_CHECK_BUDGET: Final = 8_000


@dataclass(frozen=True, slots=True)
class SizedVM:
    """A VM to launch, the host it was packed onto and the pods it was sized for."""

    pool: str
    shape: Shape
    host: str
    pods: tuple[Pod, ...] = ()
    reason: Reason = Reason.PENDING_PODS
    zone: Zone = NO_ZONE  # the zone of ``host``: the VM is pinned to it


@dataclass(frozen=True, slots=True)
class Unserved:
    """Pending pods this plan launches nothing for, and why."""

    pods: tuple[Pod, ...]
    verdict: Verdict
    message: str


@dataclass(frozen=True, slots=True)
class PoolSizing:
    vms: tuple[SizedVM, ...] = ()
    unserved: tuple[Unserved, ...] = ()


class _PoolSizer:
    """Sizes VMs of one pool in one zone (any zone when None) against the shared budget."""

    def __init__(
        self,
        pool: Pool,
        bounds: ShapeBounds,
        overhead: Resources,
        budget: PlanBudget,
        min_load: Resources | None = None,
        zone: Zone | None = None,
        filters: TopologyFilters | None = None,
    ) -> None:
        if pool.settings is None:
            raise ValueError(f"pool {pool.name} has no valid settings")
        self.pool = pool
        self.settings = pool.settings
        self.catalog: ShapeCatalog = catalog(bounds, pool.settings)
        self.overhead = overhead
        self.budget = budget
        self.vms: list[SizedVM] = []
        self.unserved: list[Unserved] = []
        self.zone = zone
        self._labels = future_node_labels(pool, "", zone=zone or NO_ZONE)
        self.min_load = min_load or Resources()
        self.hosts = "bare-metal host" if not zone else f"bare-metal host in zone {zone}"
        self.filters = filters

    def empty_node(self, name: str, shape: Shape) -> NodeState:
        labels = {**self._labels, HOSTNAME_LABEL: name}
        return NodeState(
            name, node_allocatable(shape), labels, self.pool.taints, used=self.overhead
        )

    def load(self, pods: Sequence[Pod]) -> dict[str, int]:
        total = dict(self.overhead)
        for pod in pods:
            for name, amount in amounts(pod.requests):
                total[name] = total.get(name, 0) + amount
        total[PODS] = total.get(PODS, 0) + len(pods)
        return total

    def refuse(self, pods: Sequence[Pod], verdict: Verdict, message: str) -> None:
        if pods:
            self.unserved.append(Unserved(tuple(pods), verdict, message))

    # Pods into VMs ----------------------------------------------------------------------------
    def size(self, classes: Sequence[PodClass]) -> None:
        name = self.pool.name
        largest = self.catalog.largest
        if largest is None:
            self.refuse(
                [p for cls in classes for p in cls.pods],
                Verdict.EXCEEDS_LARGEST_SHAPE,
                f"pool {name} allows no VM shape inside the tenant's bounds",
            )
            return
        largest_node = self.empty_node(f"{name}-largest", largest)
        fitting: list[PodClass] = []
        for cls in classes:
            reason = largest_node.fit_failure(cls.representative)
            if reason:
                self.refuse(
                    cls.pods,
                    Verdict.EXCEEDS_LARGEST_SHAPE,
                    f"needs {cls.representative.requests}; the largest VM of pool {name} "
                    f"({largest}) has room for {largest_node.free}: {reason}",
                )
            else:
                fitting.append(cls)
        if not fitting:
            return
        bin_shape = self.catalog.largest_fitting(self.budget.hosts_free(self.zone))
        if bin_shape is None:
            self.refuse(
                [p for cls in fitting for p in cls.pods],
                Verdict.HOSTS_FULL,
                f"no {self.hosts} has room for even the smallest VM of pool {name}",
            )
            return
        bin_template = self.empty_node(f"{name}-bin", bin_shape)
        packable: list[PodClass] = []
        for cls in fitting:
            if bin_template.fit_failure(cls.representative):
                self.refuse(
                    cls.pods,
                    Verdict.HOSTS_FULL,
                    f"no {self.hosts} has room for a VM of pool {name} large enough for "
                    f"{cls.representative.requests} (the largest that fits is {bin_shape})",
                )
            else:
                packable.append(cls)
        bins = self.pack(packable, bin_shape, bin_template.free)
        memory_per_cpu = self.memory_per_cpu(packable)
        planned: list[tuple[Shape, Sequence[Pod]]] = []
        bin_of: dict[int, NodeState] = {}
        for node in bins:
            load = self.with_mix_memory(self.load(node.pods), memory_per_cpu)
            shape = self.catalog.smallest_holding(load) or bin_shape
            if self.min_load:
                grown = self.grown(load, node_allocatable(bin_shape).cpu)
                roomier = self.catalog.smallest_holding(grown) or shape
                if roomier.cpu >= shape.cpu and roomier.memory >= shape.memory:
                    shape = roomier
            planned.append((shape, node.pods))
            bin_of[id(node.pods)] = node
        if self.filters is None or not needs_topology_filters(p for b in bins for p in b.pods):
            # The scheduler replay knows no cluster-wide filters: where they hold, the
            # packing (which applied them) is what the VMs are planned with.
            planned = self.as_scheduled(planned, bin_shape, memory_per_cpu)
        # First-fit decreasing onto hosts: the largest VMs first.
        planned.sort(key=lambda item: (-item[0].cpu, -item[0].memory))
        for shape, bin_pods in planned:
            if not self.launch(shape, bin_pods) and self.filters is not None:
                refused = bin_of.get(id(bin_pods))
                if refused is not None:
                    self.filters.detach(refused)

    def as_scheduled(
        self,
        planned: Sequence[tuple[Shape, Sequence[Pod]]],
        largest: Shape,
        memory_per_cpu: float,
    ) -> list[tuple[Shape, Sequence[Pod]]]:
        """The VMs grown until the tenant's scheduler, taking the pods in its queue order and
        spreading them by its scores (:func:`~autoscaler.core.scoring.schedule`), places
        every one of them; each VM with the pods it will get.

        Packing decides how many VMs of which shape; the scheduler decides which pod goes
        where, and its choice can leave a pod without room that the packing had. Each such
        pod grows the VM that needs the least to take it (within ``largest``), or gets a VM
        of its own when none can; then the scheduler is asked again, a bounded number of
        times. A plan larger than :data:`SCHEDULED_CHECK_BUDGET` is left as packed: the
        check would cost more than the pass, and a pod the scheduler strands there still
        gets a VM from the next pass.
        """
        pods = [pod for _, bin_pods in planned for pod in bin_pods]
        if len(pods) * len(planned) > SCHEDULED_CHECK_BUDGET:
            return list(planned)

        # In the order the VMs are launched (largest first), which is the order the
        # scheduler is assumed to break ties in.
        def launch_order(shape: Shape) -> tuple[int, int]:
            return (-shape.cpu, -shape.memory)

        shapes = sorted((shape for shape, _ in planned), key=launch_order)
        pods.sort(key=queue_order)
        for attempt in range(SCHEDULER_ROUNDS + 1):
            nodes = [
                self.empty_node(f"{self.pool.name}-planned-{i + 1}", shape)
                for i, shape in enumerate(shapes)
            ]
            placed = schedule(pods, nodes)
            left = [pod for pod in pods if pod.key not in placed]
            if not left or attempt == SCHEDULER_ROUNDS:
                break
            for pod in left:
                grown = self.grow_for(pod, shapes, nodes, largest, memory_per_cpu)
                if grown is None:
                    own = self.catalog.smallest_holding(self.load([pod])) or largest
                    shapes.append(own)
                    nodes.append(self.empty_node(f"{self.pool.name}-extra", own))
                    grown = (len(shapes) - 1, own)
                shapes[grown[0]] = grown[1]
                nodes[grown[0]].allocatable = node_allocatable(grown[1])
                nodes[grown[0]].add(pod)
            shapes.sort(key=launch_order)
        result: list[tuple[Shape, Sequence[Pod]]] = [
            (shape, node.pods) for shape, node in zip(shapes, nodes, strict=True)
        ]
        for bin_node in self.pack(group_equivalent(left), largest, node_allocatable(largest)):
            load = self.with_mix_memory(self.load(bin_node.pods), memory_per_cpu)
            result.append((self.catalog.smallest_holding(load) or largest, bin_node.pods))
        return result

    def grow_for(
        self,
        pod: Pod,
        shapes: Sequence[Shape],
        nodes: Sequence[NodeState],
        largest: Shape,
        memory_per_cpu: float,
    ) -> tuple[int, Shape] | None:
        """The VM to grow for ``pod`` and its new shape: the least added vCPU-equivalents
        (4Gi weigh as one vCPU), then the first; None when no VM can hold it within
        ``largest``."""
        best: tuple[float, int, Shape] | None = None
        for position, (shape, node) in enumerate(zip(shapes, nodes, strict=True)):
            load = self.with_mix_memory(self.load([*node.pods, pod]), memory_per_cpu)
            now = node_allocatable(shape)
            load[CPU] = max(load.get(CPU, 0), now.cpu)  # never smaller than it is
            load[MEMORY] = max(load.get(MEMORY, 0), now.memory)
            bigger = self.catalog.smallest_holding(load)
            if bigger is None or bigger.cpu > largest.cpu or bigger.memory > largest.memory:
                continue
            cost = vcpu_equivalents(bigger.cpu - shape.cpu, bigger.memory - shape.memory)
            if best is None or cost < best[0]:
                best = (cost, position, bigger)
        return None if best is None else (best[1], best[2])

    def memory_per_cpu(self, classes: Sequence[PodClass]) -> float:
        """Bytes of memory per millicore requested by ``classes`` and the pool's recent growth."""
        cpu, memory = self.min_load.cpu, self.min_load.memory
        for cls in classes:
            cpu += cls.vector.cpu * len(cls.pods)
            memory += cls.vector.memory * len(cls.pods)
        return memory / cpu if cpu > 0 else 0.0

    def with_mix_memory(self, load: dict[str, int], memory_per_cpu: float) -> dict[str, int]:
        """``load`` with the mix's memory (plus margin) for its pods' cpu, as far as a shape
        with as few vCPUs as ``load`` needs allows."""
        cpu = load.get(CPU, 0)
        wanted = self.overhead.memory + ceil(
            (cpu - self.overhead.cpu) * memory_per_cpu * (1 + MIX_MEMORY_MARGIN)
        )
        wanted = min(wanted, self.catalog.most_memory_for(cpu))
        return {**load, MEMORY: wanted} if wanted > load.get(MEMORY, 0) else load

    def grown(self, load: Mapping[str, int], most_cpu: int) -> dict[str, int]:
        """``load`` raised to the pool's recent growth, and while the pool grows at all, to at
        least a node whose per-node overhead is a small share of it, since small nodes lose
        much of themselves to reservations and DaemonSets; at most ``most_cpu``. The mix of
        cpu and memory is kept throughout, so that growth beyond the largest VM does not
        turn into the largest VM's memory."""
        cpu = max(load.get(CPU, 0), self.min_load.cpu)
        memory = max(load.get(MEMORY, 0), self.min_load.memory)
        efficient = self.catalog.efficient_cpu(self.overhead.cpu, GROWTH_OVERHEAD_SHARE)
        if efficient is not None and cpu > 0:
            floor = self.catalog.allocatable_cpu(efficient)
            if cpu < floor and self.min_load.cpu >= GROWTH_EVIDENCE_SHARE * floor:
                memory = ceil(memory * floor / cpu)
                cpu = floor
        if cpu > most_cpu:
            memory = ceil(memory * most_cpu / cpu)
            cpu = most_cpu
        return {**load, CPU: max(cpu, load.get(CPU, 0)), MEMORY: max(memory, load.get(MEMORY, 0))}

    def pack(self, classes: list[PodClass], shape: Shape, room: Resources) -> list[NodeState]:
        def share(cls: PodClass) -> tuple[int, float, int, int]:
            vector = cls.vector
            dominant = max(
                (amount / room[k] for k, amount in vector.items() if room[k] > 0), default=0.0
            )
            return (-cls.representative.priority, -dominant, -vector.cpu, -vector.memory)

        bins: list[NodeState] = []
        index = NodeIndex()
        placed: dict[str, str] = {}
        for cls in sorted(classes, key=share):
            rest = cls.pods[place_class(cls, bins, placed, index) :]
            while rest:
                name = f"{self.pool.name}-planned-{len(bins) + 1}"
                if self.filters is not None:
                    name = self.filters.unused_name(name)
                node = self.empty_node(name, shape)
                if self.filters is not None:
                    self.filters.attach(node, new=True)
                taken = place_class(PodClass(cls.key, rest, cls.vector), [node], placed)
                if taken == 0:  # the class fits an empty bin: only cluster-wide filters refuse
                    reason = node.fit_failure(rest[0]) or "does not fit an empty VM"
                    if self.filters is not None:
                        self.filters.detach(node)
                    where = f"pool {self.pool.name}" + (
                        f" in zone {self.zone}" if self.zone not in (None, NO_ZONE) else ""
                    )
                    self.refuse(
                        rest,
                        Verdict.CONSTRAINTS_UNSATISFIED,
                        f"a new VM of {where} would not take it: {reason}",
                    )
                    break
                bins.append(node)
                index.append(node)
                rest = rest[taken:]
        return bins

    # VMs onto hosts ---------------------------------------------------------------------------
    def launch(
        self, shape: Shape, pods: Sequence[Pod], reason: Reason = Reason.PENDING_PODS
    ) -> bool:
        name, budget = self.pool.name, self.budget
        if budget.pool_nodes(name) >= self.settings.max_nodes:
            self.refuse(
                pods,
                Verdict.POOL_AT_MAX,
                f"pool {name} is at its maximum of {self.settings.max_nodes} nodes",
            )
            return False
        why = budget.limit_failure(shape)
        if why and (len(pods) <= 1 or budget.vm_count_reached()):
            self.refuse(pods, Verdict.TENANT_LIMIT_REACHED, why)
            return False
        host = None if why else budget.host_for(shape, self.zone)
        if host is not None:
            budget.take(name, shape, host)
            self.vms.append(SizedVM(name, shape, host, tuple(pods), reason, budget.zone_of(host)))
            return True
        if len(pods) <= 1:
            self.refuse(
                pods,
                Verdict.HOSTS_FULL,
                f"no {self.hosts} has room for a {shape} VM of pool {name} "
                f"({host_footprint(shape)} with virt-launcher overhead)",
            )
            return False
        # Too big for any host or for the tenant's remaining cpu or memory: two smaller VMs
        # may still fit. Alternate the pods (largest first) so the halves are about equal.
        for half in (pods[0::2], pods[1::2]):
            smaller = self.catalog.smallest_holding(self.load(half)) or shape
            self.launch(smaller, half)
        return True

    def top_up(self, missing: int) -> str | None:
        """Launch ``missing`` VMs of the smallest shape; the reason when some could not be."""
        smallest = self.catalog.smallest
        if smallest is None:
            return f"pool {self.pool.name} allows no VM shape inside the tenant's bounds"
        for _ in range(missing):
            if not self.launch(smallest, (), Reason.MIN_NODES):
                return self._why_not(smallest)
        return None

    def _why_not(self, shape: Shape) -> str:
        name, budget = self.pool.name, self.budget
        if budget.pool_nodes(name) >= self.settings.max_nodes:
            return f"pool {name} is at its maximum of {self.settings.max_nodes} nodes"
        return budget.limit_failure(shape) or (
            f"no {self.hosts} has room for a {shape} VM of pool {name}"
        )


def size_for_pods(
    pool: Pool,
    pods: Sequence[Pod],
    bounds: ShapeBounds,
    daemonset_overhead: Resources,
    budget: PlanBudget,
) -> PoolSizing:
    """VMs of ``pool`` for ``pods`` (all admitted by the pool's template), within ``budget``."""
    return size_for_classes(pool, group_equivalent(pods), bounds, daemonset_overhead, budget)


def size_for_classes(
    pool: Pool,
    classes: Sequence[PodClass],
    bounds: ShapeBounds,
    daemonset_overhead: Resources,
    budget: PlanBudget,
    min_load: Resources | None = None,
    zone: Zone | None = None,
    filters: TopologyFilters | None = None,
) -> PoolSizing:
    """:func:`size_for_pods` for pods already grouped into equivalence classes.

    With ``min_load``, each new VM is sized to hold at least that much (up to the largest
    shape a host can take), so that a pool that keeps growing gets fewer, larger VMs whose
    room the next pending pods use while they boot. With ``zone``, the VMs go only on that
    zone's hosts and the pods are checked against nodes with its labels.
    """
    sizer = _PoolSizer(pool, bounds, daemonset_overhead, budget, min_load, zone, filters)
    sizer.size(classes)
    return PoolSizing(tuple(sizer.vms), tuple(sizer.unserved))


def top_up_min_nodes(
    pool: Pool,
    bounds: ShapeBounds,
    budget: PlanBudget,
    missing: int,
    zones: Sequence[Zone] = (),
) -> tuple[tuple[SizedVM, ...], str | None]:
    """Smallest VMs that bring a pool up to its min-nodes; and why not all, if not.

    With ``zones``, the VMs take turns over them (each one goes to the next zone with room),
    so that a pool's minimum does not sit in one zone."""
    if not zones:
        sizer = _PoolSizer(pool, bounds, Resources(), budget)
        reason = sizer.top_up(missing)
        return tuple(sizer.vms), reason
    sizers = [_PoolSizer(pool, bounds, Resources(), budget, zone=zone) for zone in zones]
    reason = None
    turn = 0
    for _ in range(missing):
        for attempt in range(len(sizers)):
            reason = sizers[(turn + attempt) % len(sizers)].top_up(1)
            if reason is None:
                turn += attempt + 1
                break
        else:
            break
    vms = tuple(vm for sizer in sizers for vm in sizer.vms)
    return vms, reason
