"""The simulated tenant cluster and its bare-metal hosts: state and its mutation primitives.

Every change goes through a method here so that the revision counter, the per-node scheduler
state (core ``NodeState``) and the running totals used by statistics stay consistent. Objects
handed to the core are the frozen model types; they are replaced, never mutated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from autoscaler.api.policy import Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import EMPTY, Resources
from autoscaler.core.config import DISRUPTING_TAINT_KEY, disrupting_taint
from autoscaler.core.model import (
    NO_ZONE,
    DaemonSet,
    Host,
    Node,
    Pod,
    PodDisruptionBudget,
    PodPhase,
    Pool,
    Snapshot,
    VirtualMachine,
    VMPhase,
    Zone,
)
from autoscaler.core.predicates import NodeState
from autoscaler.core.zones import in_allowed_zones

PodListener = Callable[[Pod, str], None]
"""Called with a pod that left the cluster and why: "evicted", "killed", "deleted", "finished"."""


@dataclass(slots=True)
class SimHost:
    name: str
    allocatable: Resources
    allocated: Resources = EMPTY
    zone: Zone = NO_ZONE

    @property
    def free(self) -> Resources:
        return self.allocatable - self.allocated

    def to_model(self) -> Host:
        return Host(self.name, self.allocatable, self.allocated, labels=self.zone.labels)


@dataclass(slots=True)
class SimVM:
    name: str
    pool: str
    shape: Shape
    image_hash: str
    created: float
    footprint: Resources
    phase: VMPhase = VMPhase.PENDING
    phase_since: float = 0.0
    host: str | None = None
    node_name: str | None = None
    zone: Zone = NO_ZONE  # pinned: it goes only on hosts of this zone

    def to_model(self) -> VirtualMachine:
        return VirtualMachine(
            name=self.name,
            pool=self.pool,
            shape=self.shape,
            image_hash=self.image_hash,
            created=self.created,
            phase=self.phase,
            phase_since=self.phase_since,
            host=self.host,
            node_name=self.node_name,
            zone=self.zone,
        )


@dataclass(slots=True)
class SimNode:
    node: Node
    state: NodeState  # the tenant scheduler's view: allocatable and the pods bound here
    vm: str


@dataclass(slots=True)
class Totals:
    """Running sums that statistics integrate over time."""

    provisioned: Resources = EMPTY  # shapes of VMs placed on a host
    requested: Resources = EMPTY  # requests of workload pods bound to nodes
    daemonset_requested: Resources = EMPTY  # requests of DaemonSet pods bound to nodes
    vms_on_hosts: int = 0

    def count_bound(self, pod: Pod, adding: bool) -> None:
        """Add a pod's requests as it is bound (``adding``), or take them away as it goes."""
        total = self.daemonset_requested if pod.is_daemonset_pod else self.requested
        total = total + pod.requests if adding else total - pod.requests
        if pod.is_daemonset_pod:
            self.daemonset_requested = total
        else:
            self.requested = total


@dataclass
class SimWorld:
    tenant: str
    shape_bounds: ShapeBounds
    limits: TenantLimits
    hosts: dict[str, SimHost] = field(default_factory=dict)
    vms: dict[str, SimVM] = field(default_factory=dict)
    nodes: dict[str, SimNode] = field(default_factory=dict)
    pods: dict[str, Pod] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    daemonsets: tuple[DaemonSet, ...] = ()
    revision: int = 0
    totals: Totals = field(default_factory=Totals)
    pod_listeners: list[PodListener] = field(default_factory=list)
    start_listeners: list[Callable[[Pod], None]] = field(default_factory=list)
    # Called with a running pod as it was before it stopped running (its node went down).
    stop_listeners: list[Callable[[Pod], None]] = field(default_factory=list)
    bind_listeners: list[Callable[[Pod], None]] = field(default_factory=list)
    bound_at: dict[str, float] = field(default_factory=dict)
    now: Callable[[], float] = lambda: 0.0
    allowed_zones: Sequence[str] | None = None  # the tenant's zones; None: every host

    def touch(self) -> None:
        self.revision += 1

    # Pods ------------------------------------------------------------------------------------
    def add_pod(self, pod: Pod) -> None:
        self.pods[pod.key] = pod
        self.touch()

    def bind(self, key: str, node_name: str, *, placed: bool = False) -> Pod:
        """Bind a pending pod to a node; ``placed`` when the node's state already holds it."""
        pod = self.pods[key]
        node = self.nodes[node_name]
        if not placed:
            node.state.add(pod)
        bound = dataclasses.replace(
            pod, node_name=node_name, unschedulable=False, unschedulable_since=None
        )
        self.pods[key] = bound
        self.bound_at[key] = self.now()
        self.totals.count_bound(bound, adding=True)
        self.touch()
        for listener in self.bind_listeners:
            listener(bound)
        return bound

    def set_pod(self, pod: Pod) -> None:
        """Replace a pod's record (phase or condition changes that keep its binding)."""
        self.pods[pod.key] = pod
        self.touch()

    def start_pod(self, key: str) -> None:
        """A bound pod's containers are up: it runs (and counts as healthy for its PDB)."""
        pod = self.pods.get(key)
        if pod is None or pod.node_name is None or pod.phase is not PodPhase.PENDING:
            return
        node = self.nodes.get(pod.node_name)
        if node is None or not node.node.ready:
            return
        running = dataclasses.replace(pod, phase=PodPhase.RUNNING)
        self.pods[key] = running
        self.touch()
        for listener in self.start_listeners:
            listener(running)

    def lose_pod(self, key: str) -> None:
        """A running pod's node stopped answering: its phase becomes Unknown (not healthy)."""
        pod = self.pods.get(key)
        if pod is None or pod.phase is not PodPhase.RUNNING:
            return
        self.pods[key] = dataclasses.replace(pod, phase=PodPhase.UNKNOWN)
        self.touch()
        for listener in self.stop_listeners:
            listener(pod)

    def remove_pod(self, key: str, why: str) -> Pod | None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return None
        if pod.node_name is not None:
            node = self.nodes.get(pod.node_name)
            if node is not None:
                node.state.remove(pod)
            self.totals.count_bound(pod, adding=False)
        self.bound_at.pop(key, None)
        self.touch()
        for listener in self.pod_listeners:
            listener(pod, why)
        return pod

    def pods_on(self, node_name: str) -> list[Pod]:
        node = self.nodes.get(node_name)
        if node is None:
            return []
        return [self.pods[p.key] for p in node.state.pods if p.key in self.pods]

    # Nodes -----------------------------------------------------------------------------------
    def add_node(self, node: Node, vm: str) -> SimNode:
        sim = SimNode(node, NodeState.from_node(node, ()), vm)
        self.nodes[node.name] = sim
        self.touch()
        return sim

    def update_node(self, name: str, **changes: object) -> None:
        sim = self.nodes[name]
        node = dataclasses.replace(sim.node, **changes)  # type: ignore[arg-type]
        sim.node = node
        state = NodeState.from_node(node, sim.state.pods)
        state.schedulable = not node.unschedulable and not node.deleting
        sim.state = state
        self.touch()

    def cordon(self, name: str, reason: str) -> None:
        taints = tuple(t for t in self.nodes[name].node.taints if t.key != DISRUPTING_TAINT_KEY)
        self.update_node(name, unschedulable=True, taints=(*taints, disrupting_taint(reason)))

    def uncordon(self, name: str) -> None:
        taints = tuple(t for t in self.nodes[name].node.taints if t.key != DISRUPTING_TAINT_KEY)
        self.update_node(name, unschedulable=False, taints=taints)

    def remove_node(self, name: str) -> None:
        if self.nodes.pop(name, None) is not None:
            self.touch()

    def is_draining(self, name: str) -> bool:
        node = self.nodes[name].node
        return node.unschedulable and any(t.key == DISRUPTING_TAINT_KEY for t in node.taints)

    # VMs and hosts ---------------------------------------------------------------------------
    def place_vm(self, vm: SimVM, host: SimHost) -> None:
        host.allocated = host.allocated + vm.footprint
        vm.host = host.name
        self.totals.provisioned = self.totals.provisioned + {
            "cpu": vm.shape.cpu,
            "memory": vm.shape.memory,
        }
        self.totals.vms_on_hosts += 1
        self.touch()

    def release_vm(self, vm: SimVM) -> None:
        if vm.host is None:
            return
        host = self.hosts[vm.host]
        host.allocated = host.allocated - vm.footprint
        self.totals.provisioned = self.totals.provisioned - {
            "cpu": vm.shape.cpu,
            "memory": vm.shape.memory,
        }
        self.totals.vms_on_hosts -= 1
        vm.host = None
        self.touch()

    def set_vm_phase(self, vm: SimVM, phase: VMPhase) -> None:
        vm.phase = phase
        vm.phase_since = self.now()
        self.touch()

    # Queries ---------------------------------------------------------------------------------
    def unbound_pods(self) -> list[Pod]:
        return [
            p
            for p in self.pods.values()
            if p.node_name is None and p.phase is PodPhase.PENDING and not p.terminating
        ]

    def ready_nodes(self) -> Iterable[SimNode]:
        return (n for n in self.nodes.values() if n.node.ready and not n.node.deleting)

    def snapshot(self, pdbs: tuple[PodDisruptionBudget, ...] = ()) -> Snapshot:
        return Snapshot(
            tenant=self.tenant,
            pods=tuple(self.pods.values()),
            nodes=tuple(n.node for n in self.nodes.values()),
            vms=tuple(vm.to_model() for vm in self.vms.values()),
            pools=tuple(self.pools.values()),
            hosts=in_allowed_zones((h.to_model() for h in self.hosts.values()), self.allowed_zones),
            shape_bounds=self.shape_bounds,
            limits=self.limits,
            daemonsets=self.daemonsets,
            pdbs=pdbs,
        )
