"""Consolidation by replacement: several under-used nodes of a pool whose pods fit one new,
cheaper VM are replaced by it. The VM is launched first (:class:`Consolidate`); once it is up,
the old nodes are drained as soon as their pods fit on the nodes that stay
(:class:`DrainReplaced`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from autoscaler.core.actions import LaunchVM, Reason
from autoscaler.core.cost import vcpu_equivalents
from autoscaler.core.disruption.method import NOTHING, Command
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.scan import CandidateNode, Scan
from autoscaler.core.disruption.state import DisruptionState, Replacement
from autoscaler.core.disruption.whatif import without_nodes
from autoscaler.core.model import Node, Pool, Snapshot, VMPhase

# Consolidation looks for nodes to replace at most this often per pool: it sizes trial VMs.
CONSOLIDATION_INTERVAL: Final = 60.0
# A replacement whose old nodes could not be drained within this long is given up.
REPLACEMENT_DEADLINE: Final = 15 * 60.0
# A replacement must cost at most this share of the VMs it replaces (shape against shape, so
# that merging small nodes saves their reservations and DaemonSet pods).
REPLACEMENT_MAX_COST_SHARE: Final = 0.75
# At most this many nodes are weighed for one replacement.
REPLACEMENT_MAX_NODES: Final = 8


class DrainReplaced:
    """Drain the nodes whose replacement is up, once their pods fit on the others."""

    name = "drain-replaced"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        chosen: list[Removal] = []
        by_node = {c.node.name: c for c in scan.candidates}
        replacing = scan.state.replacing
        for pool, replacement in sorted(replacing.items()):
            present = [by_node[n] for n in replacement.nodes if n in by_node]
            overdue = scan.now - replacement.started > REPLACEMENT_DEADLINE
            if not present or overdue or pool in scan.holds:
                if not present or overdue:
                    del replacing[pool]
                continue
            ready = [c for c in present if scan.may_take(c)]
            removals = [
                scan.removal(
                    c,
                    Reason.UNDERUTILIZED,
                    f"replaced by a cheaper VM with {len(replacement.nodes) - 1} other node(s)",
                )
                for c in ready
            ]
            if (
                removals
                and scan.fit_on_ready_nodes([*chosen, *removals])
                and scan.keeps_pods_placed([*chosen, *removals])
            ):
                for c in ready:
                    scan.take(c)
                chosen.extend(removals)
        return Command(Reason.UNDERUTILIZED, removals=tuple(chosen)) if chosen else NOTHING


class Consolidate:
    """Replace under-used nodes of a pool with one cheaper VM sized for their pods."""

    name = "consolidate"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        if not scan.config.consolidation:
            return NOTHING
        state = scan.state
        for name, pool in sorted(scan.pools.items()):
            if name in state.replacing or name in scan.holds:
                continue
            checked = state.consolidation_checked.get(name)
            if checked is not None and scan.now - checked < CONSOLIDATION_INTERVAL:
                continue
            state.consolidation_checked[name] = scan.now
            launch = _replacement_for(scan, pool)
            if launch is not None:
                return Command(Reason.UNDERUTILIZED, replacements=(launch,))
        return NOTHING


def _replacement_for(scan: Scan, pool: Pool) -> LaunchVM | None:
    assert pool.settings is not None
    settled = scan.now - pool.settings.scale_down_unneeded_seconds
    candidates = sorted(
        (
            c
            for c in scan.candidates
            if c.pool.name == pool.name
            and not c.blocked
            and c.rotation is None
            and c.node.created <= settled
        ),
        key=lambda c: (c.utilization, c.node.name),
    )[:REPLACEMENT_MAX_NODES]
    limit = min(scan.per_pass, scan.budget.get(pool.name, 0))
    limit = min(limit, scan.above_min.get(pool.name, 0) + 1, len(candidates))
    shapes = _shape_costs(scan.snapshot)
    best: tuple[float, list[CandidateNode], LaunchVM] | None = None
    for count in range(1, limit + 1):
        group = candidates[:count]
        launch = _one_vm_for(scan, pool, group)
        if launch is None:
            break
        old = sum(shapes.get(c.node.name, _node_cost(c.node)) for c in group)
        new = vcpu_equivalents(launch.shape.cpu, launch.shape.memory)
        if new <= REPLACEMENT_MAX_COST_SHARE * old and (best is None or old - new > best[0]):
            best = (old - new, group, launch)
    if best is None:
        return None
    _, group, launch = best
    names = tuple(c.node.name for c in group)
    scan.state.replacing[pool.name] = Replacement(names, scan.now)
    scan.spend_budget(pool.name)
    return dataclasses.replace(
        launch,
        reason=Reason.UNDERUTILIZED,
        detail=f"replaces {', '.join(names)} with one cheaper VM",
        replaces=names,
    )


def _shape_costs(snapshot: Snapshot) -> dict[str, float]:
    """Node name -> the cost of the VM behind it: what the tenant pays for the node,
    reservations and DaemonSet pods included."""
    return {
        vm.node_name or vm.name: vcpu_equivalents(vm.shape.cpu, vm.shape.memory)
        for vm in snapshot.vms
    }


def _node_cost(node: Node) -> float:
    """The cost of a node with no known VM: its allocatable, a lower bound of its shape."""
    return vcpu_equivalents(node.allocatable.cpu, node.allocatable.memory)


def _one_vm_for(scan: Scan, pool: Pool, group: Sequence[CandidateNode]) -> LaunchVM | None:
    """The single VM of ``pool`` the next scale-up would launch for the pods of ``group`` if
    those nodes were gone, or None when it takes more (or no) VMs."""
    moved = [pod for c in group for pod in c.moved]
    removed = {c.node.name for c in group}
    after = without_nodes(scan.snapshot, removed, moved, scan.now)
    moved_keys = {pod.key for pod in moved}
    after = dataclasses.replace(
        after,
        pods=tuple(p for p in after.pods if p.node_name is not None or p.key in moved_keys),
    )
    result = scan.plan_scale_up(after, [pool], scan.lifecycle.unhealthy)
    launches = [la for la in result.launches if la.pods]
    if len(launches) != 1 or not moved_keys <= set(result.placements) | set(launches[0].pods):
        return None
    return launches[0]


def link_replacements(
    state: DisruptionState, snapshot: Snapshot, pools: Sequence[Pool], now: float
) -> None:
    """Replacements launched before this instance took over (a new leader, a restart),
    linked to the nodes they replace by the record on the VM, so that those nodes are
    drained once it is up instead of the replacement sitting empty."""
    valid = {pool.name for pool in pools if pool.settings is not None}
    nodes = {node.name: node for node in snapshot.nodes}
    for vm in sorted(snapshot.vms, key=lambda v: (v.created, v.name)):
        if not vm.replaces or vm.pool not in valid or vm.pool in state.replacing:
            continue
        if vm.phase in (VMPhase.FAILED, VMPhase.DELETING):
            continue
        if now - vm.created > REPLACEMENT_DEADLINE:
            continue
        waiting = tuple(
            name
            for name in vm.replaces
            if name in nodes and not nodes[name].unschedulable and not nodes[name].deleting
        )
        if waiting:
            state.replacing[vm.pool] = Replacement(waiting, vm.created)


def next_check(state: DisruptionState) -> float | None:
    """When consolidation will look at some pool again (for callers that skip passes)."""
    times = [t + CONSOLIDATION_INTERVAL for t in state.consolidation_checked.values()]
    times.extend(r.started + REPLACEMENT_DEADLINE for r in state.replacing.values())
    return min(times, default=None)
