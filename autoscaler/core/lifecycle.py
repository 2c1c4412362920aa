"""VM lifecycle: the phase each VM is in, its deadlines, failures, orphans, backoff and repair.

A VM goes Provisioning -> Pending -> Scheduled -> Running (VMI up), then its Node registers
(NotReady) and becomes Ready. Each phase has its own deadline (see CoreConfig). The time spent
in a VM phase comes from ``VirtualMachine.phase_since``; the time a registered Node has been
NotReady is measured from when the core first saw it so.

A node that was Ready once and then stays NotReady is unhealthy, no longer launching: past
``CoreConfig.unhealthy_node_repair_after`` its VM is deleted (repair), unless too many nodes of
its pool are NotReady at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from autoscaler.core.actions import DeleteVM, Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.model import Node, Pool, Snapshot, VirtualMachine, VMPhase
from autoscaler.core.timers import FirstSeen, KeyedBackoff, format_duration

# No repair in a pool where more than this share of the nodes are NotReady at once (one node
# is always allowed): that is a wider outage, which deleting VMs would only make worse.
MAX_UNHEALTHY_PERCENT = 20


class LaunchPhase(StrEnum):
    PROVISIONING = "Provisioning"
    PENDING = "Pending"
    SCHEDULED = "Scheduled"
    REGISTERING = "Registering"  # VMI running, no Node yet
    NODE_NOT_READY = "NodeNotReady"  # Node registered, not Ready yet
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"


LAUNCHING_PHASES = frozenset(
    {
        LaunchPhase.PROVISIONING,
        LaunchPhase.PENDING,
        LaunchPhase.SCHEDULED,
        LaunchPhase.REGISTERING,
        LaunchPhase.NODE_NOT_READY,
    }
)

_FROM_VM_PHASE = {
    VMPhase.PROVISIONING: LaunchPhase.PROVISIONING,
    VMPhase.PENDING: LaunchPhase.PENDING,
    VMPhase.SCHEDULED: LaunchPhase.SCHEDULED,
    VMPhase.RUNNING: LaunchPhase.REGISTERING,
}


def node_of(vm: VirtualMachine, nodes_by_name: Mapping[str, Node]) -> Node | None:
    """The Node a VM registered as (by ``node_name``, else a Node named like the VM)."""
    if vm.node_name is not None:
        return nodes_by_name.get(vm.node_name)
    return nodes_by_name.get(vm.name)


def _is_live_node(status: VMStatus) -> bool:
    """A registered node whose VM and Node are not being deleted."""
    node = status.node
    return node is not None and not node.deleting and status.phase is not LaunchPhase.DELETING


def _hosting_workload(snapshot: Snapshot) -> set[str]:
    """Nodes with pods other than DaemonSet and static ones bound to them: such a node was
    Ready once, even if this instance (a new leader, a restarted process) never saw it so. A
    registering node carries ``node.kubernetes.io/not-ready``, which only DaemonSet pods and
    the like tolerate."""
    return {
        pod.node_name
        for pod in snapshot.pods
        if pod.node_name is not None and pod.owner_kind not in ("DaemonSet", "Node")
    }


def launch_phase(vm: VirtualMachine, node: Node | None) -> LaunchPhase:
    if vm.phase is VMPhase.DELETING:
        return LaunchPhase.DELETING
    if vm.phase is VMPhase.FAILED:
        return LaunchPhase.FAILED
    if node is not None:
        return LaunchPhase.READY if node.ready else LaunchPhase.NODE_NOT_READY
    return _FROM_VM_PHASE[vm.phase]


def phase_deadline(phase: LaunchPhase, config: CoreConfig) -> float | None:
    """How long a VM may stay in ``phase``; None for phases without a deadline."""
    return {
        LaunchPhase.PROVISIONING: config.provisioning_deadline,
        LaunchPhase.PENDING: config.pending_deadline,
        LaunchPhase.SCHEDULED: config.scheduled_deadline,
        LaunchPhase.REGISTERING: config.registration_deadline,
        LaunchPhase.NODE_NOT_READY: config.node_ready_deadline,
    }.get(phase)


@dataclass(frozen=True, slots=True)
class VMStatus:
    vm: VirtualMachine
    phase: LaunchPhase
    node: Node | None
    since: float  # when the VM entered ``phase``, as far as the core knows


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    actions: tuple[DeleteVM, ...]
    statuses: tuple[VMStatus, ...]
    # Names of VMs this pass deletes; they no longer count as launching or as capacity.
    deleted: frozenset[str]
    # Nodes that were Ready once and are NotReady now: capacity neither up nor on its way.
    unhealthy: frozenset[str] = frozenset()
    # (pool, why) for pools whose unhealthy nodes are due for repair but held by the valve.
    repair_withheld: tuple[tuple[str, str], ...] = ()

    def launching(self, pool: str) -> list[VMStatus]:
        """VMs of ``pool`` still on their way to a Ready node (and not being deleted now)."""
        return [
            s
            for s in self.statuses
            if s.vm.pool == pool and s.phase in LAUNCHING_PHASES and s.vm.name not in self.deleted
        ]

    def vm_for_node(self, node: str) -> VirtualMachine | None:
        for status in self.statuses:
            if status.node is not None and status.node.name == node:
                return status.vm
        return None


class Lifecycle:
    """Follows every VM of a tenant across passes; keeps the per-pool launch backoff and the
    time each node that was Ready once has been NotReady."""

    def __init__(self, config: CoreConfig) -> None:
        self._config = config
        self.backoff = KeyedBackoff(config.backoff_base, config.backoff_max)
        self._not_ready_since = FirstSeen()
        self._seen_launching: set[str] = set()
        self._seen_ready: set[str] = set()
        self._failures_counted: set[str] = set()
        self._unhealthy_since = FirstSeen()  # by VM name

    def unhealthy_since(self, vm: str) -> float | None:
        """Since when the node of ``vm``, Ready once, has been NotReady (None if it is not)."""
        return self._unhealthy_since.since(vm)

    def backoff_remaining(self, pool: str, now: float) -> float:
        return self.backoff.remaining(pool, now)

    def step(self, snapshot: Snapshot, now: float) -> LifecycleResult:
        pools: dict[str, Pool] = {pool.name: pool for pool in snapshot.pools}
        nodes = {node.name: node for node in snapshot.nodes}
        statuses: list[VMStatus] = []
        actions: list[DeleteVM] = []
        unhealthy: list[VMStatus] = []

        hosting = _hosting_workload(snapshot)
        for vm in sorted(snapshot.vms, key=lambda v: v.name):
            node = node_of(vm, nodes)
            phase = launch_phase(vm, node)
            if phase is LaunchPhase.NODE_NOT_READY and node is not None and node.name in hosting:
                self._seen_ready.add(vm.name)  # seen Ready by whoever placed its pods
            if phase is LaunchPhase.NODE_NOT_READY and vm.name in self._seen_ready:
                # A node that was Ready once is no longer launching; repair looks after it.
                phase = LaunchPhase.READY
            status = VMStatus(vm, phase, node, self._since(vm, phase, now))
            statuses.append(status)
            pool = pools.get(vm.pool)
            if phase is LaunchPhase.DELETING:
                continue
            node_name = node.name if node is not None else None
            if pool is None:
                actions.append(
                    DeleteVM(
                        vm=vm.name,
                        reason=Reason.ORPHANED,
                        node=node_name,
                        detail=f"VM {vm.name} belongs to pool {vm.pool!r}, which no longer exists",
                    )
                )
                continue
            if phase is LaunchPhase.READY:
                self._became_ready(vm)
                if node is not None and not node.ready and not node.deleting:
                    unhealthy.append(status)
                continue
            if phase in LAUNCHING_PHASES:
                self._seen_launching.add(vm.name)
            if pool.settings is None:
                continue  # an invalid pool is left alone until it is fixed
            failure = self._failure(status, now)
            if failure is not None:
                reason, detail = failure
                actions.append(DeleteVM(vm=vm.name, reason=reason, node=node_name, detail=detail))
                self._count_failure(vm, now)

        self._forget_missing(snapshot)
        self._not_ready_since.observe(
            (s.vm.name for s in statuses if s.phase is LaunchPhase.NODE_NOT_READY), now
        )
        self._unhealthy_since.observe((s.vm.name for s in unhealthy), now)
        deleting = {a.vm for a in actions}
        live = [s for s in statuses if _is_live_node(s) and s.vm.name not in deleting]
        repairs, withheld = self._repairs(unhealthy, live, pools, now)
        actions.extend(repairs)
        return LifecycleResult(
            actions=tuple(actions),
            statuses=tuple(statuses),
            deleted=frozenset(a.vm for a in actions),
            unhealthy=frozenset(s.node.name for s in unhealthy if s.node is not None),
            repair_withheld=withheld,
        )

    def _repairs(
        self,
        unhealthy: Sequence[VMStatus],
        nodes: Sequence[VMStatus],
        pools: Mapping[str, Pool],
        now: float,
    ) -> tuple[list[DeleteVM], tuple[tuple[str, str], ...]]:
        """Delete the VMs of valid pools' nodes NotReady for too long, oldest first, unless
        too many of their pool's ``nodes`` (those not on their way out) are NotReady."""
        after = self._config.unhealthy_node_repair_after
        if after <= 0:
            return [], ()
        due: list[tuple[float, VMStatus]] = []
        for status in unhealthy:
            pool = pools.get(status.vm.pool)
            elapsed = self._unhealthy_since.elapsed(status.vm.name, now)
            if pool is not None and pool.settings is not None and elapsed > after:
                due.append((elapsed, status))
        withheld: dict[str, str] = {}
        for name in sorted({status.vm.pool for _, status in due}):
            sick = sum(1 for s in unhealthy if s.vm.pool == name)
            total = sum(1 for s in nodes if s.vm.pool == name)
            if sick > max(1, math.ceil(total * MAX_UNHEALTHY_PERCENT / 100)):
                withheld[name] = (
                    f"repair withheld: {sick} of {total} nodes of pool {name} are NotReady "
                    f"(more than {MAX_UNHEALTHY_PERCENT}%)"
                )
        due = sorted(
            (d for d in due if d[1].vm.pool not in withheld), key=lambda d: (-d[0], d[1].vm.name)
        )
        repairs = []
        for elapsed, status in due[: self._config.max_disrupted_per_pass]:
            vm, node = status.vm, status.node
            assert node is not None
            repairs.append(
                DeleteVM(
                    vm=vm.name,
                    reason=Reason.UNHEALTHY,
                    node=node.name,
                    detail=f"node {node.name} of VM {vm.name} (pool {vm.pool}) has been NotReady "
                    f"for {format_duration(elapsed)} (repair after {format_duration(after)})",
                )
            )
        return repairs, tuple(sorted(withheld.items()))

    def _since(self, vm: VirtualMachine, phase: LaunchPhase, now: float) -> float:
        if phase is LaunchPhase.NODE_NOT_READY:
            return self._not_ready_since.mark(vm.name, now)
        return max(vm.phase_since, vm.created)

    def _failure(self, status: VMStatus, now: float) -> tuple[Reason, str] | None:
        vm = status.vm
        if status.phase is LaunchPhase.FAILED:
            return Reason.BOOT_FAILED, f"VM {vm.name} of pool {vm.pool} failed to boot"
        deadline = phase_deadline(status.phase, self._config)
        if deadline is None:
            return None
        elapsed = now - status.since
        if elapsed <= deadline:
            return None
        return (
            Reason.LAUNCH_TIMEOUT,
            f"VM {vm.name} of pool {vm.pool} spent {format_duration(elapsed)} in phase "
            f"{status.phase} (deadline {format_duration(deadline)})",
        )

    def _count_failure(self, vm: VirtualMachine, now: float) -> None:
        # A VM stays in the snapshot until its deletion shows; count its failure only once.
        if vm.name not in self._failures_counted:
            self._failures_counted.add(vm.name)
            self.backoff.fail(vm.pool, now)

    def _became_ready(self, vm: VirtualMachine) -> None:
        if vm.name in self._seen_launching:
            self._seen_launching.discard(vm.name)
            self.backoff.reset(vm.pool)
        self._seen_ready.add(vm.name)

    def _forget_missing(self, snapshot: Snapshot) -> None:
        present = {vm.name for vm in snapshot.vms}
        self._seen_launching &= present
        self._seen_ready &= present
        self._failures_counted &= present
