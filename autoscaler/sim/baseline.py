"""A fixed-shape baseline with the same ``decide(snapshot, now) -> Plan`` as the core.

It behaves like cluster-autoscaler with one node group per pool, all of one VM shape: pending
pods go first onto existing and launching nodes, then first-fit into new nodes of the fixed
shape; a node below the utilisation threshold for the unneeded time whose pods fit elsewhere
is drained and deleted, and no node is removed within 10 min of a scale-up
(``--scale-down-delay-after-add``). It reuses the core's predicates, placement, overhead model and
eviction rules, so the comparison isolates the sizing and disruption policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.actions import (
    Action,
    CordonNode,
    DeleteVM,
    DrainNode,
    Explanation,
    LaunchVM,
    Plan,
    Reason,
    UncordonNode,
    Verdict,
)
from autoscaler.core.config import disrupting_taint_of
from autoscaler.core.eviction import movable_pods, node_blockers, still_draining
from autoscaler.core.future_node import future_node, future_node_labels
from autoscaler.core.model import Node, Pod, Pool, Snapshot, VirtualMachine, VMPhase
from autoscaler.core.overhead import host_footprint
from autoscaler.core.pending import pending_pods
from autoscaler.core.predicates import NodeState, selector_mismatch, taint_mismatch
from autoscaler.core.scheduling import bound_pods_by_node, place
from autoscaler.core.timers import FirstSeen

GIB = 2**30
DEFAULT_SHAPE = Shape(cpu=8000, memory=32 * GIB)


@dataclass(frozen=True, slots=True)
class BaselineConfig:
    shape: Shape = DEFAULT_SHAPE
    unneeded_seconds: float = 600.0  # cluster-autoscaler --scale-down-unneeded-time
    utilization_threshold: float = 0.5  # --scale-down-utilization-threshold
    provision_timeout: float = 900.0  # --max-node-provision-time
    drain_timeout: float = 600.0
    max_empty_deletions: int = 10  # --max-empty-bulk-delete
    delay_after_add: float = 600.0  # --scale-down-delay-after-add

    def durations(self) -> tuple[float, ...]:
        return (
            self.unneeded_seconds,
            self.provision_timeout,
            self.drain_timeout,
            self.delay_after_add,
        )


@dataclass
class _Budget:
    """What the tenant and the hosts still allow, consumed as launches are planned."""

    vms: int | None
    cpu: int | None
    memory: int | None
    host_free: list[tuple[str, Resources]]
    per_pool: dict[str, int] = field(default_factory=dict)


class FixedShapeAutoscaler:
    def __init__(self, config: BaselineConfig = BaselineConfig()) -> None:
        self.config = config
        self._unneeded = FirstSeen()
        self._drains: dict[str, float] = {}
        self._last_add: float | None = None

    def decide(self, snapshot: Snapshot, now: float) -> Plan:
        pools = {p.name: p for p in snapshot.pools if p.settings is not None}
        nodes = {n.name: n for n in snapshot.nodes}
        bound = bound_pods_by_node(snapshot.pods)
        actions: list[Action] = self._lifecycle(snapshot, nodes, now)
        deleted = {a.vm for a in actions if isinstance(a, DeleteVM)}
        live = [vm for vm in snapshot.vms if vm.name not in deleted and _counts(vm)]
        launches, explanations = self._scale_up(snapshot, pools, nodes, bound, live)
        actions.extend(launches)
        if launches:
            self._last_add = now
        else:
            actions.extend(self._scale_down(snapshot, pools, nodes, bound, now))
        return Plan(actions=tuple(actions), explanations=tuple(explanations))

    # VMs that never become nodes -------------------------------------------------------------
    def _lifecycle(self, snapshot: Snapshot, nodes: dict[str, Node], now: float) -> list[Action]:
        actions: list[Action] = []
        for vm in snapshot.vms:
            node = nodes.get(vm.node_name or vm.name)
            if vm.phase is VMPhase.FAILED:
                actions.append(DeleteVM(vm.name, Reason.BOOT_FAILED, node=vm.node_name))
            elif (
                vm.phase is not VMPhase.DELETING
                and (node is None or not node.ready)
                and now - vm.created > self.config.provision_timeout
            ):
                actions.append(DeleteVM(vm.name, Reason.LAUNCH_TIMEOUT, node=vm.node_name))
        return actions

    # Scale-up --------------------------------------------------------------------------------
    def _scale_up(
        self,
        snapshot: Snapshot,
        pools: dict[str, Pool],
        nodes: dict[str, Node],
        bound: dict[str, list[Pod]],
        live: list[VirtualMachine],
    ) -> tuple[list[LaunchVM], list[Explanation]]:
        pending = pending_pods(snapshot.pods)
        if not pending:
            return [], []
        existing = [
            NodeState.from_node(node, bound.get(node.name, ()))
            for node in sorted(nodes.values(), key=lambda n: n.name)
            if node.ready and not node.unschedulable and not node.deleting
        ]
        launching = [
            future_node(vm.name, pools[vm.pool], vm.shape, snapshot.daemonsets)
            for vm in live
            if vm.pool in pools and not _is_ready(nodes.get(vm.node_name or vm.name))
        ]
        explained: dict[tuple[Verdict, str | None, str], list[str]] = defaultdict(list)
        placed = place(pending, existing)
        for key in placed:
            explained[(Verdict.FITS_EXISTING, None, "fits an existing node")].append(key)
        rest = [p for p in pending if p.key not in placed]
        placed = place(rest, launching)
        for key in placed:
            explained[(Verdict.FITS_LAUNCHING, None, "fits a node being launched")].append(key)
        rest = [p for p in rest if p.key not in placed]
        budget = self._budget(snapshot, live)
        launches: list[LaunchVM] = []
        ordered = sorted(pools.values(), key=lambda p: (-_weight(p), p.name))
        for pool in ordered:
            admitted = [p for p in rest if _admits(pool, p)]
            if not admitted:
                continue
            new, verdicts = self._grow(pool, admitted, snapshot, budget)
            launches.extend(new)
            done = {key for launch in new for key in launch.pods}
            for key in done:
                explained[(Verdict.NEW_VM, pool.name, "a new node of the fixed shape")].append(key)
            for (verdict, message), keys in verdicts.items():
                explained[(verdict, pool.name, message)].extend(keys)
            handled = done | {k for keys in verdicts.values() for k in keys}
            rest = [p for p in rest if p.key not in handled]
        for pod in rest:
            explained[(Verdict.NO_POOL_MATCHES, None, "no pool admits the pod")].append(pod.key)
        explanations = [
            Explanation(verdict, len(keys), tuple(sorted(keys)[:3]), pool, message)
            for (verdict, pool, message), keys in sorted(explained.items(), key=str)
        ]
        return launches, explanations

    def _budget(self, snapshot: Snapshot, live: list[VirtualMachine]) -> _Budget:
        limits = snapshot.limits
        cpu = sum(vm.shape.cpu for vm in live)
        memory = sum(vm.shape.memory for vm in live)
        per_pool: dict[str, int] = defaultdict(int)
        for vm in live:
            per_pool[vm.pool] += 1
        return _Budget(
            vms=None if limits.vms is None else limits.vms - len(live),
            cpu=None if limits.cpu is None else limits.cpu - cpu,
            memory=None if limits.memory is None else limits.memory - memory,
            host_free=[(h.name, h.free) for h in sorted(snapshot.hosts, key=lambda h: h.name)],
            per_pool=per_pool,
        )

    def _grow(
        self, pool: Pool, pods: list[Pod], snapshot: Snapshot, budget: _Budget
    ) -> tuple[list[LaunchVM], dict[tuple[Verdict, str], list[str]]]:
        settings = pool.settings
        assert settings is not None
        shape = self.config.shape
        footprint = host_footprint(shape)
        launches: list[LaunchVM] = []
        verdicts: dict[tuple[Verdict, str], list[str]] = {}
        remaining = pods
        while remaining:
            blocked = self._blocked(pool, budget, shape)
            if blocked is not None:
                verdicts[blocked] = [p.key for p in remaining]
                break
            node = future_node(f"new-{len(launches)}", pool, shape, snapshot.daemonsets)
            placed = place(remaining, [node])
            if not placed:
                message = f"does not fit a {shape} node"
                verdicts[(Verdict.EXCEEDS_LARGEST_SHAPE, message)] = [p.key for p in remaining]
                break
            host = next((n for n, free in budget.host_free if footprint.fits_in(free)), None)
            if host is None:
                message = f"no bare-metal host has room for a {shape} VM"
                verdicts[(Verdict.HOSTS_FULL, message)] = [p.key for p in remaining]
                break
            self._consume(budget, pool.name, shape, host, footprint)
            launches.append(
                LaunchVM(
                    pool=pool.name,
                    shape=shape,
                    image=settings.image,
                    image_hash=pool.image_hash or "",
                    reason=Reason.PENDING_PODS,
                    host=host,
                    pods=tuple(sorted(placed)),
                )
            )
            remaining = [p for p in remaining if p.key not in placed]
        return launches, verdicts

    def _blocked(self, pool: Pool, budget: _Budget, shape: Shape) -> tuple[Verdict, str] | None:
        settings = pool.settings
        assert settings is not None
        if budget.per_pool.get(pool.name, 0) >= settings.max_nodes:
            return (Verdict.POOL_AT_MAX, f"pool is at max-nodes {settings.max_nodes}")
        if (
            (budget.vms is not None and budget.vms < 1)
            or (budget.cpu is not None and budget.cpu < shape.cpu)
            or (budget.memory is not None and budget.memory < shape.memory)
        ):
            return (Verdict.TENANT_LIMIT_REACHED, "the tenant's VM limits are reached")
        return None

    def _consume(
        self, budget: _Budget, pool: str, shape: Shape, host: str, footprint: Resources
    ) -> None:
        budget.per_pool[pool] = budget.per_pool.get(pool, 0) + 1
        if budget.vms is not None:
            budget.vms -= 1
        if budget.cpu is not None:
            budget.cpu -= shape.cpu
        if budget.memory is not None:
            budget.memory -= shape.memory
        budget.host_free = [
            (name, free - footprint if name == host else free) for name, free in budget.host_free
        ]

    # Scale-down ------------------------------------------------------------------------------
    def _scale_down(
        self,
        snapshot: Snapshot,
        pools: dict[str, Pool],
        nodes: dict[str, Node],
        bound: dict[str, list[Pod]],
        now: float,
    ) -> list[Action]:
        actions = self._follow_drains(nodes, bound, snapshot, now)
        vm_of = {vm.node_name or vm.name: vm.name for vm in snapshot.vms}
        states = {
            name: NodeState.from_node(node, bound.get(name, ()))
            for name, node in nodes.items()
            if node.ready and not node.unschedulable and not node.deleting
        }
        per_pool: dict[str, int] = defaultdict(int)
        for node in nodes.values():
            if node.pool is not None and not node.deleting:
                per_pool[node.pool] += 1
        candidates = sorted(
            name
            for name, state in states.items()
            if nodes[name].pool in pools
            and name in vm_of
            and _utilization(state) < self.config.utilization_threshold
            and not node_blockers(bound.get(name, ()), snapshot.pdbs)
        )
        self._unneeded.observe(candidates, now)
        due = [
            n for n in candidates if self._unneeded.elapsed(n, now) >= self.config.unneeded_seconds
        ]
        if self._last_add is not None and now - self._last_add < self.config.delay_after_add:
            due = []  # unneeded timers keep running; nothing is removed during the cooldown
        empties = 0
        leaving: set[str] = set(self._drains)
        for name in due:
            pool = pools[nodes[name].pool or ""]
            assert pool.settings is not None
            if per_pool[pool.name] <= pool.settings.min_nodes:
                continue
            moving = movable_pods(bound.get(name, ()))
            if not moving:
                if empties >= self.config.max_empty_deletions:
                    continue
                empties += 1
                actions.append(CordonNode(name, Reason.EMPTY))
                actions.append(DeleteVM(vm_of[name], Reason.EMPTY, node=name))
            elif self._drains:
                continue
            elif self._fits_elsewhere(moving, states, leaving | {name}):
                actions.append(CordonNode(name, Reason.UNDERUTILIZED))
                actions.append(DrainNode(name, Reason.UNDERUTILIZED))
                self._drains[name] = now
            else:
                continue
            leaving.add(name)
            per_pool[pool.name] -= 1
            self._unneeded.forget(name)
        return actions

    def _fits_elsewhere(
        self, pods: Sequence[Pod], states: dict[str, NodeState], leaving: set[str]
    ) -> bool:
        others = [
            NodeState(s.name, s.allocatable, s.labels, s.taints, s.pods, node_name=s.node_name)
            for name, s in sorted(states.items())
            if name not in leaving
        ]
        return len(place(pods, others)) == len(pods)

    def _follow_drains(
        self, nodes: dict[str, Node], bound: dict[str, list[Pod]], snapshot: Snapshot, now: float
    ) -> list[Action]:
        actions: list[Action] = []
        vm_of = {vm.node_name or vm.name: vm.name for vm in snapshot.vms}
        for name, started in sorted(self._drains.items()):
            node = nodes.get(name)
            if node is None or node.deleting or name not in vm_of:
                del self._drains[name]
            elif not any(still_draining(p) for p in bound.get(name, ())):
                actions.append(DeleteVM(vm_of[name], Reason.UNDERUTILIZED, node=name))
                del self._drains[name]
            elif now - started > self.config.drain_timeout:
                actions.append(UncordonNode(name, Reason.DRAIN_TIMEOUT))
                del self._drains[name]
            elif disrupting_taint_of(node) is None:
                del self._drains[name]
        return actions


def _utilization(state: NodeState) -> float:
    """cluster-autoscaler's measure: the larger of requested cpu and memory over allocatable."""
    used, alloc = state.used, state.allocatable
    return max(
        used.cpu / alloc.cpu if alloc.cpu else 1.0,
        used.memory / alloc.memory if alloc.memory else 1.0,
    )


def _counts(vm: VirtualMachine) -> bool:
    return vm.phase not in (VMPhase.DELETING, VMPhase.FAILED)


def _is_ready(node: Node | None) -> bool:
    return node is not None and node.ready


def _weight(pool: Pool) -> int:
    return pool.settings.weight if pool.settings is not None else 0


def _admits(pool: Pool, pod: Pod) -> bool:
    labels = future_node_labels(pool, "")
    return selector_mismatch(pod, labels) is None and taint_mismatch(pod, pool.taints) is None
