"""Scale-down candidate selection: which nodes to disrupt now, and with which method.

Methods are tried in order and only the first one that finds something acts in a pass:
a pool above its max (OverMax), nodes whose replacement is Ready, empty nodes (Empty),
drifted or expired nodes (Drifted, Expired), under-utilised nodes whose pods fit elsewhere
(Underutilized), then consolidation by replacement: several under-used nodes whose pods fit
one new, cheaper VM are replaced by it (launched first; the old nodes are drained once their
pods fit on the nodes that stay). Empty and under-utilised nodes must have been unneeded for
the pool's ``scale_down_unneeded_seconds``. Every removal keeps the pool at or above
``min_nodes`` and within its disruption budget, and a removal after which the next scale-up
would launch a VM this pass's scale-up does not is dropped.

This module chooses; :mod:`autoscaler.core.autoscaler` validates the choice after a delay and
turns it into actions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from autoscaler.core.actions import DeleteVM, LaunchVM, Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.drift import Rotation, rotation
from autoscaler.core.eviction import Blocker, movable_pods
from autoscaler.core.future_node import future_node
from autoscaler.core.lifecycle import LifecycleResult
from autoscaler.core.model import Node, Pod, PodPhase, Pool, Snapshot, VMPhase
from autoscaler.core.nodecache import NodeCache, blocking_pdbs_by_namespace
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import place
from autoscaler.core.shapes import catalog
from autoscaler.core.timers import FirstSeen, format_duration


class Launches(Protocol):
    """What scale-down needs from a scale-up result."""

    @property
    def launches(self) -> Sequence[LaunchVM]: ...

    @property
    def placements(self) -> Mapping[str, str]: ...


# plan_scale_up(snapshot, pools, unhealthy), injected so that this module does not depend on
# how scale-up is computed; ``unhealthy`` are the nodes, Ready once, that are NotReady now.
ScaleUpPlanner = Callable[[Snapshot, Sequence[Pool], Collection[str]], Launches]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node chosen for removal, with what its drain would move."""

    node: Node
    pool: str
    reason: Reason
    detail: str
    moved: tuple[Pod, ...]


# Consolidation looks for nodes to replace at most this often per pool: it sizes trial VMs.
CONSOLIDATION_INTERVAL: Final = 60.0
# A replacement whose old nodes could not be drained within this long is given up.
REPLACEMENT_DEADLINE: Final = 15 * 60.0
# A replacement must cost at most this share of the VMs it replaces (shape against shape, so
# that merging small nodes saves their reservations and DaemonSet pods).
REPLACEMENT_MAX_COST_SHARE: Final = 0.75
# At most this many nodes are weighed for one replacement.
REPLACEMENT_MAX_NODES: Final = 8


def shape_cost(cpu_millicores: int, memory_bytes: int) -> float:
    """What a VM costs, in vCPU-equivalents: 4Gi of memory weigh as one vCPU."""
    return cpu_millicores / 1000 + memory_bytes / (4 * 2**30)


@dataclass(frozen=True, slots=True)
class Replacement:
    """A cheaper VM launched for the pods of ``nodes``, which are drained once it is up."""

    nodes: tuple[str, ...]
    started: float


@dataclass(frozen=True, slots=True)
class ScaleDownResult:
    method: Reason | None  # the method that acts this pass, if any
    removals: tuple[Candidate, ...] = ()  # nodes to cordon and drain (after validation)
    replacements: tuple[LaunchVM, ...] = ()  # VMs for rotated nodes whose pods need room
    deletions: tuple[DeleteVM, ...] = ()  # launching VMs of pools above their max
    unneeded: tuple[str, ...] = ()  # nodes unneeded now, whether or not their time has come


@dataclass(slots=True)
class _Info:
    node: Node
    pool: Pool
    moved: list[Pod]
    blockers: list[Blocker]
    utilization: float
    rotation: Rotation | None

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    @property
    def permanently_blocked(self) -> bool:
        return any(not b.momentary for b in self.blockers)

    def sort_key(self) -> tuple[int, float, float, str]:
        # The cheapest disruption first: fewest pods, lowest utilisation, oldest, then name.
        return (len(self.moved), self.utilization, self.node.created, self.node.name)


def could_serve(pool: Pool, pod: Pod, snapshot: Snapshot) -> bool:
    """Whether a new VM of the pool, at its largest shape, could host ``pod``."""
    if pool.settings is None:
        return False
    largest = catalog(snapshot.shape_bounds, pool.settings).largest
    if largest is None:
        return False
    template = future_node(f"{pool.name}-template", pool, largest, snapshot.daemonsets)
    return template.fit_failure(pod) is None


def hold_reason(
    pool: Pool,
    *,
    snapshot: Snapshot,
    pending: Sequence[Pod],
    last_launch: float | None,
    now: float,
    config: CoreConfig,
) -> str | None:
    """Why the pool must not shrink now (so the next pass does not launch what this one
    removes), or None when it may.

    ``pending`` are the pending pods that neither an existing node nor a launching VM takes:
    VMs still launching do not hold a pool by themselves, since every removal is checked
    against the next scale-up, which counts their capacity.
    """
    if pool.settings is None:
        return "pool is invalid"
    if not pool.settings.scale_down_enabled:
        return "scale-down is disabled for this pool"
    if last_launch is not None and config.scale_down_cooldown_after_scale_up > 0:
        since = now - last_launch
        if since < config.scale_down_cooldown_after_scale_up:
            wait = config.scale_down_cooldown_after_scale_up - since
            return (
                f"scale-up {format_duration(since)} ago; cooldown ends in {format_duration(wait)}"
            )
    for pod in pending:
        if could_serve(pool, pod, snapshot):
            return f"pending pod {pod.key} could run on this pool"
    return None


def as_pending(pod: Pod, now: float) -> Pod:
    """The pod as the scheduler sees it after an eviction recreated it. No scheduler has
    tried it on the nodes that stay yet, so it has no Unschedulable time to hold against
    them (scale-up would otherwise not count on them)."""
    return dataclasses.replace(
        pod,
        node_name=None,
        phase=PodPhase.PENDING,
        unschedulable=True,
        unschedulable_since=None,
        terminating=False,
    )


def without_nodes(
    snapshot: Snapshot, removed: Collection[str], moved: Iterable[Pod], now: float
) -> Snapshot:
    """The world after ``removed`` nodes are gone and ``moved`` pods wait to be scheduled.

    Other pods of the removed nodes (DaemonSet pods) disappear with them.
    """
    moved_keys = {pod.key for pod in moved}
    pods: list[Pod] = []
    for pod in snapshot.pods:
        if pod.key in moved_keys:
            pods.append(as_pending(pod, now))
        elif pod.node_name not in removed:
            pods.append(pod)
    return dataclasses.replace(
        snapshot,
        pods=tuple(pods),
        nodes=tuple(n for n in snapshot.nodes if n.name not in removed),
        vms=tuple(vm for vm in snapshot.vms if (vm.node_name or vm.name) not in removed),
    )


def launched_pods(result: Launches) -> set[str]:
    """Keys of every pod a scale-up result launches a VM for."""
    return {key for launch in result.launches for key in launch.pods}


def relaunched(result: Launches, pods: Iterable[Pod]) -> set[str]:
    """Keys of ``pods`` that a scale-up result launches a VM for."""
    keys = {pod.key for pod in pods}
    return {key for launch in result.launches for key in launch.pods if key in keys}


def destinations(
    nodes: Iterable[Node],
    bound: Mapping[str, Sequence[Pod]],
    leaving: Collection[str],
    cache: NodeCache | None = None,
) -> list[NodeState]:
    """Nodes that can take pods, in name order, with the pods of ``leaving`` nodes (which
    cannot take any) already placed on them where they fit."""
    cache = cache if cache is not None else NodeCache(enabled=False)
    states = [
        cache.state(node, bound.get(node.name, ()))
        for node in sorted(nodes, key=lambda n: n.name)
        if node.ready and not node.unschedulable and not node.deleting and node.name not in leaving
    ]
    displaced = [pod for name in sorted(leaving) for pod in movable_pods(bound.get(name, ()))]
    place(displaced, states)
    return states


def room_elsewhere(
    snapshot: Snapshot, node: str, leaving: Collection[str], cache: NodeCache | None = None
) -> bool:
    """Whether the pods a drain of ``node`` moves fit on the nodes that stay, after the pods
    of the other ``leaving`` nodes took their room."""
    cache = cache if cache is not None else NodeCache(enabled=False)
    bound = cache.bound(snapshot.pods)
    moved = movable_pods(bound.get(node, ()))
    others = set(leaving) - {node}
    states = [s for s in destinations(snapshot.nodes, bound, others, cache) if s.name != node]
    return _try_place(moved, states, {s.name: s for s in states}) is not None


class ScaleDown:
    """Chooses the nodes to disrupt each pass; keeps the unneeded-since timers."""

    def __init__(
        self, config: CoreConfig, plan_scale_up: ScaleUpPlanner, cache: NodeCache | None = None
    ) -> None:
        self.config = config
        self.plan_scale_up = plan_scale_up
        self.cache = cache if cache is not None else NodeCache()
        self.unneeded_since = FirstSeen()
        # Pool -> the replacement launched for some of its nodes, until they are drained.
        self.replacing: dict[str, Replacement] = {}
        # Pool -> when consolidation last looked for nodes to replace.
        self.consolidation_checked: dict[str, float] = {}

    def next_consolidation_check(self) -> float | None:
        """When consolidation will look at some pool again (for callers that skip passes)."""
        times = [t + CONSOLIDATION_INTERVAL for t in self.consolidation_checked.values()]
        times.extend(r.started + REPLACEMENT_DEADLINE for r in self.replacing.values())
        return min(times, default=None)

    def plan(
        self,
        snapshot: Snapshot,
        now: float,
        *,
        pools: Sequence[Pool],
        holds: Mapping[str, str],
        leaving: Collection[str],
        excluded: Collection[str],
        lifecycle: LifecycleResult,
        scale_up_pools: Sequence[Pool],
        launched_now: Collection[str] = (),
    ) -> ScaleDownResult:
        """Choose this pass's disruptions.

        ``pools`` are the valid pools; ``holds`` maps pools that must not shrink now to why
        (OverMax still applies to them); ``leaving`` are nodes already being removed (their
        pods move first); ``excluded`` are nodes not to consider as candidates now;
        ``scale_up_pools`` are the pools the next scale-up would launch into;
        ``launched_now`` are the pods this pass's scale-up launches VMs for.
        """
        self._link_replacements(snapshot, pools, now)
        run = _Pass(
            self,
            snapshot,
            now,
            pools,
            holds,
            leaving,
            excluded,
            lifecycle,
            scale_up_pools,
            frozenset(launched_now),
        )
        return run.result()

    def _link_replacements(self, snapshot: Snapshot, pools: Sequence[Pool], now: float) -> None:
        """Replacements launched before this instance took over (a new leader, a restart),
        linked to the nodes they replace by the record on the VM, so that those nodes are
        drained once it is up instead of the replacement sitting empty."""
        valid = {pool.name for pool in pools if pool.settings is not None}
        nodes = {node.name: node for node in snapshot.nodes}
        for vm in sorted(snapshot.vms, key=lambda v: (v.created, v.name)):
            if not vm.replaces or vm.pool not in valid or vm.pool in self.replacing:
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
                self.replacing[vm.pool] = Replacement(waiting, vm.created)


class _Pass:
    """One pass of candidate selection over a snapshot."""

    def __init__(
        self,
        owner: ScaleDown,
        snapshot: Snapshot,
        now: float,
        pools: Sequence[Pool],
        holds: Mapping[str, str],
        leaving: Collection[str],
        excluded: Collection[str],
        lifecycle: LifecycleResult,
        scale_up_pools: Sequence[Pool],
        launched_now: frozenset[str] = frozenset(),
    ) -> None:
        self.owner = owner
        self.config = owner.config
        self.snapshot = snapshot
        self.now = now
        self.pools = {pool.name: pool for pool in pools if pool.settings is not None}
        self.holds = holds
        self.leaving = set(leaving)
        self.lifecycle = lifecycle
        self.scale_up_pools = scale_up_pools
        self.cache = owner.cache
        self.bound = self.cache.bound(snapshot.pods)
        self.nodes = sorted(snapshot.nodes, key=lambda n: n.name)
        self.blocking = blocking_pdbs_by_namespace(snapshot.pdbs)
        self.infos = self._candidates(set(excluded))
        self.budget, self.above_min = self._pool_limits()
        self.per_pass = self.config.max_disrupted_per_pass
        self.launched_now = launched_now

    # Inputs -------------------------------------------------------------------------------
    def _destinations(self) -> list[NodeState]:
        return destinations(self.nodes, self.bound, self.leaving, self.cache)

    def _candidates(self, excluded: set[str]) -> list[_Info]:
        infos: list[_Info] = []
        for node in self.nodes:
            pool = self.pools.get(node.pool or "")
            if pool is None or node.name in excluded or node.name in self.leaving:
                continue
            if not node.ready or node.unschedulable or node.deleting:
                continue
            facts = self.cache.facts(node, self.bound.get(node.name, ()))
            infos.append(
                _Info(
                    node,
                    pool,
                    facts.moved,
                    facts.blockers(self.blocking),
                    facts.utilization,
                    rotation(node, pool, self.now),
                )
            )
        infos.sort(key=_Info.sort_key)
        return infos

    def _pool_limits(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per pool: disruptions the budget still allows, and nodes above ``min_nodes``."""
        budget: dict[str, int] = {}
        above_min: dict[str, int] = {}
        for name, pool in self.pools.items():
            assert pool.settings is not None
            members = [n for n in self.nodes if n.pool == name]
            in_flight = sum(1 for n in members if n.deleting or n.name in self.leaving)
            budget[name] = pool.settings.disruption_budget.allowed(len(members)) - in_flight
            above_min[name] = len(members) - in_flight - pool.settings.min_nodes
        return budget, above_min

    # Selection ----------------------------------------------------------------------------
    def result(self) -> ScaleDownResult:
        unneeded = self._unneeded()
        self.owner.unneeded_since.observe(unneeded, self.now)
        names = tuple(unneeded)
        over_max = self._over_max()
        if over_max.removals or over_max.deletions:
            return dataclasses.replace(over_max, unneeded=names)
        methods = (
            self._replaced,
            self._empty,
            self._rotation,
            self._underutilized,
            self._consolidate,
        )
        for method in methods:
            found = method(unneeded)
            if found.removals or found.replacements:
                return dataclasses.replace(found, unneeded=names)
        return ScaleDownResult(method=None, unneeded=names)

    def _may_take(self, info: _Info) -> bool:
        name = info.pool.name
        return (
            self.per_pass > 0
            and self.budget.get(name, 0) > 0
            and self.above_min.get(name, 0) > 0
            and not info.blocked
        )

    def _take(self, info: _Info) -> None:
        self.per_pass -= 1
        self.budget[info.pool.name] -= 1
        self.above_min[info.pool.name] -= 1

    def _ready(self, info: _Info) -> bool:
        assert info.pool.settings is not None
        waited = self.owner.unneeded_since.elapsed(info.node.name, self.now)
        return waited >= info.pool.settings.scale_down_unneeded_seconds

    def _unneeded(self) -> list[str]:
        """Empty and under-utilised nodes whose pods fit elsewhere, in candidate order.

        Each unneeded node leaves the simulated cluster, so the pods of one consume room
        the next one's pods cannot use; a node that receives pods is needed. At most
        ``max_non_empty_candidates_per_pass`` nodes with pods are checked, those found
        unneeded before first.
        """
        states: list[NodeState] = []
        by_name: dict[str, NodeState] = {}
        gone: set[str] = set()
        receivers: set[str] = set()
        unneeded: list[str] = []
        checks_left = self.config.max_non_empty_candidates_per_pass
        seen_before = self.owner.unneeded_since
        ordered = sorted(self.infos, key=lambda i: i.node.name not in seen_before)
        for info in ordered:
            pool = info.pool
            assert pool.settings is not None
            name = info.node.name
            if pool.name in self.holds or name in receivers or info.permanently_blocked:
                continue
            if info.moved:
                if info.utilization >= pool.settings.scale_down_utilization_threshold:
                    continue
                if checks_left <= 0:
                    continue
                checks_left -= 1
                if not by_name:  # built only when some pods have to move
                    states = self._destinations()
                    by_name = {state.name: state for state in states}
                others = [s for s in states if s.name not in gone and s.name != name]
                placed = _try_place(info.moved, others, by_name)
                if placed is None:
                    continue
                receivers.update(placed.values())
            gone.add(name)
            unneeded.append(name)
        order = {info.node.name: index for index, info in enumerate(self.infos)}
        return sorted(unneeded, key=order.__getitem__)

    def _replaced(self, unneeded: Sequence[str]) -> ScaleDownResult:
        """Drain the nodes whose replacement is up, once their pods fit on the others."""
        chosen: list[Candidate] = []
        by_node = {info.node.name: info for info in self.infos}
        for pool, replacement in sorted(self.owner.replacing.items()):
            present = [by_node[n] for n in replacement.nodes if n in by_node]
            overdue = self.now - replacement.started > REPLACEMENT_DEADLINE
            if not present or overdue or pool in self.holds:
                if not present or overdue:
                    del self.owner.replacing[pool]
                continue
            ready = [info for info in present if self._may_take(info)]
            candidates = [
                self._candidate(
                    info,
                    Reason.UNDERUTILIZED,
                    f"replaced by a cheaper VM with {len(replacement.nodes) - 1} other node(s)",
                )
                for info in ready
            ]
            if (
                candidates
                and self._fit_on_ready_nodes([*chosen, *candidates])
                and self._keeps_pods_placed([*chosen, *candidates])
            ):
                for info in ready:
                    self._take(info)
                chosen.extend(candidates)
        return ScaleDownResult(Reason.UNDERUTILIZED if chosen else None, removals=tuple(chosen))

    def _fit_on_ready_nodes(self, chosen: Sequence[Candidate]) -> bool:
        """Whether the pods of ``chosen`` fit on the Ready nodes that stay, now."""
        gone = {c.node.name for c in chosen}
        states = [s for s in self._destinations() if s.name not in gone]
        moved = [pod for c in chosen for pod in c.moved]
        return _try_place(moved, states, {s.name: s for s in states}) is not None

    def _consolidate(self, unneeded: Sequence[str]) -> ScaleDownResult:
        """Replace under-used nodes of a pool with one cheaper VM sized for their pods."""
        if not self.config.consolidation:
            return ScaleDownResult(None)
        for name, pool in sorted(self.pools.items()):
            if name in self.owner.replacing or name in self.holds:
                continue
            checked = self.owner.consolidation_checked.get(name)
            if checked is not None and self.now - checked < CONSOLIDATION_INTERVAL:
                continue
            self.owner.consolidation_checked[name] = self.now
            launch = self._replacement_for(pool)
            if launch is not None:
                return ScaleDownResult(Reason.UNDERUTILIZED, replacements=(launch,))
        return ScaleDownResult(None)

    def _replacement_for(self, pool: Pool) -> LaunchVM | None:
        assert pool.settings is not None
        settled = self.now - pool.settings.scale_down_unneeded_seconds
        infos = sorted(
            (
                info
                for info in self.infos
                if info.pool.name == pool.name
                and not info.blocked
                and info.rotation is None
                and info.node.created <= settled
            ),
            key=lambda i: (i.utilization, i.node.name),
        )[:REPLACEMENT_MAX_NODES]
        limit = min(self.per_pass, self.budget.get(pool.name, 0))
        limit = min(limit, self.above_min.get(pool.name, 0) + 1, len(infos))
        shapes = self._shape_costs()
        best: tuple[float, list[_Info], LaunchVM] | None = None
        for count in range(1, limit + 1):
            group = infos[:count]
            launch = self._one_vm_for(pool, group)
            if launch is None:
                break
            old = sum(shapes.get(i.node.name, _node_cost(i.node)) for i in group)
            new = shape_cost(launch.shape.cpu, launch.shape.memory)
            if new <= REPLACEMENT_MAX_COST_SHARE * old and (best is None or old - new > best[0]):
                best = (old - new, group, launch)
        if best is None:
            return None
        _, group, launch = best
        names = tuple(i.node.name for i in group)
        self.owner.replacing[pool.name] = Replacement(names, self.now)
        self.per_pass -= 1
        self.budget[pool.name] -= 1
        return dataclasses.replace(
            launch,
            reason=Reason.UNDERUTILIZED,
            detail=f"replaces {', '.join(names)} with one cheaper VM",
            replaces=names,
        )

    def _shape_costs(self) -> dict[str, float]:
        """Node name -> the cost of the VM behind it: what the tenant pays for the node,
        reservations and DaemonSet pods included."""
        return {
            vm.node_name or vm.name: shape_cost(vm.shape.cpu, vm.shape.memory)
            for vm in self.snapshot.vms
        }

    def _one_vm_for(self, pool: Pool, group: Sequence[_Info]) -> LaunchVM | None:
        """The single VM of ``pool`` the next scale-up would launch for the pods of
        ``group`` if those nodes were gone, or None when it takes more (or no) VMs."""
        moved = [pod for info in group for pod in info.moved]
        removed = {info.node.name for info in group}
        after = without_nodes(self.snapshot, removed, moved, self.now)
        moved_keys = {pod.key for pod in moved}
        after = dataclasses.replace(
            after,
            pods=tuple(p for p in after.pods if p.node_name is not None or p.key in moved_keys),
        )
        result = self.owner.plan_scale_up(after, [pool], self.lifecycle.unhealthy)
        launches = [la for la in result.launches if la.pods]
        if len(launches) != 1 or not moved_keys <= set(result.placements) | set(launches[0].pods):
            return None
        return launches[0]

    def _empty(self, unneeded: Sequence[str]) -> ScaleDownResult:
        chosen: list[Candidate] = []
        is_unneeded = set(unneeded)
        for info in self.infos:
            if info.moved or info.node.name not in is_unneeded or not self._ready(info):
                continue
            if self._may_take(info):
                self._take(info)
                chosen.append(self._candidate(info, Reason.EMPTY, "node runs no workload pods"))
        return ScaleDownResult(Reason.EMPTY if chosen else None, removals=tuple(chosen))

    def _rotation(self, unneeded: Sequence[str]) -> ScaleDownResult:
        if not any(i.rotation is not None and i.pool.name not in self.holds for i in self.infos):
            return ScaleDownResult(None)
        states = self._destinations()
        by_name = {state.name: state for state in states}
        removals: list[Candidate] = []
        replacements: list[LaunchVM] = []
        gone: set[str] = set()
        for info in self.infos:
            if info.rotation is None or info.pool.name in self.holds:
                continue
            if info.blocked or not self._within_budget(info):
                continue
            name = info.node.name
            others = [s for s in states if s.name not in gone and s.name != name]
            placed = _try_place(info.moved, others, by_name)
            candidate = self._candidate(info, info.rotation.reason, info.rotation.detail)
            if (
                placed is not None
                and self.above_min.get(info.pool.name, 0) > 0
                and self._keeps_pods_placed([*removals, candidate])
            ):
                self._take(info)
                gone.add(name)
                removals.append(candidate)
                continue
            if placed is not None:
                _undo(info.moved, placed, by_name)
            # No room (or the pool is at its minimum): replace first, drain once the new
            # node is Ready. The replacement counts against the budget already.
            launches = self._replacement(info)
            if launches:
                self.per_pass -= 1
                self.budget[info.pool.name] -= 1
                replacements.extend(launches)
        method = (removals[0].reason if removals else None) or (
            replacements[0].reason if replacements else None
        )
        return ScaleDownResult(method, removals=tuple(removals), replacements=tuple(replacements))

    def _underutilized(self, unneeded: Sequence[str]) -> ScaleDownResult:
        chosen: list[Candidate] = []
        by_node = {info.node.name: info for info in self.infos}
        for name in unneeded:
            info = by_node[name]
            if not info.moved or not self._ready(info) or not self._may_take(info):
                continue
            assert info.pool.settings is not None
            candidate = self._candidate(
                info,
                Reason.UNDERUTILIZED,
                f"node is {info.utilization:.0%} utilised (threshold "
                f"{info.pool.settings.scale_down_utilization_threshold:.0%}) and its "
                f"{len(info.moved)} pod(s) fit on other nodes",
            )
            if self._keeps_pods_placed([*chosen, candidate]):
                self._take(info)
                chosen.append(candidate)
        return ScaleDownResult(Reason.UNDERUTILIZED if chosen else None, removals=tuple(chosen))

    def _over_max(self) -> ScaleDownResult:
        removals: list[Candidate] = []
        deletions: list[DeleteVM] = []
        for name, pool in sorted(self.pools.items()):
            assert pool.settings is not None
            launching = self.lifecycle.launching(name)
            # A launching VM whose Node registered already is counted once, as launching.
            registering = {s.node.name for s in launching if s.node is not None}
            members = [
                n
                for n in self.nodes
                if n.pool == name
                and not n.deleting
                and n.name not in self.leaving
                and n.name not in registering
            ]
            excess = len(members) + len(launching) - pool.settings.max_nodes
            if excess <= 0:
                continue
            detail = (
                f"pool {name} has {len(members)} node(s) and {len(launching)} launching VM(s), "
                f"above its max of {pool.settings.max_nodes}"
            )
            # VMs that are still launching hold no pods: they go first, newest first.
            for status in sorted(launching, key=lambda s: (-s.vm.created, s.vm.name)):
                if excess <= 0:
                    break
                node = status.node.name if status.node is not None else None
                deletions.append(DeleteVM(status.vm.name, Reason.OVER_MAX, node, detail))
                excess -= 1
            for info in self.infos:
                if excess <= 0:
                    break
                if info.pool.name != name or not self._within_budget(info) or info.blocked:
                    continue
                self.per_pass -= 1
                self.budget[name] -= 1
                removals.append(self._candidate(info, Reason.OVER_MAX, detail))
                excess -= 1
        method = Reason.OVER_MAX if removals or deletions else None
        return ScaleDownResult(method, removals=tuple(removals), deletions=tuple(deletions))

    def _within_budget(self, info: _Info) -> bool:
        return self.per_pass > 0 and self.budget.get(info.pool.name, 0) > 0

    # Helpers ------------------------------------------------------------------------------
    def _candidate(self, info: _Info, reason: Reason, detail: str) -> Candidate:
        return Candidate(info.node, info.pool.name, reason, detail, tuple(info.moved))

    def _keeps_pods_placed(self, chosen: Sequence[Candidate]) -> bool:
        """Whether the next scale-up, after these nodes are gone, launches nothing for their
        pods (pods of nodes already leaving move too, and may take room first)."""
        moved = [pod for c in chosen for pod in c.moved]
        if not moved:
            return True
        removed = {c.node.name for c in chosen} | self.leaving
        leaving_pods = [
            pod for name in self.leaving for pod in movable_pods(self.bound.get(name, ()))
        ]
        after = without_nodes(self.snapshot, removed, [*leaving_pods, *moved], self.now)
        result = self.owner.plan_scale_up(after, self.scale_up_pools, self.lifecycle.unhealthy)
        return launched_pods(result) <= self.launched_now

    def _replacement(self, info: _Info) -> list[LaunchVM]:
        """VMs of the node's pool sized for the node's pods, which fit nowhere else."""
        assert info.rotation is not None
        after = without_nodes(self.snapshot, {info.node.name}, info.moved, self.now)
        moved_keys = {pod.key for pod in info.moved}
        after = dataclasses.replace(
            after,
            pods=tuple(p for p in after.pods if p.node_name is not None or p.key in moved_keys),
        )
        result = self.owner.plan_scale_up(after, [info.pool], self.lifecycle.unhealthy)
        return [
            dataclasses.replace(
                launch,
                reason=info.rotation.reason,
                detail=f"replaces {info.node.name}: {info.rotation.detail}",
            )
            for launch in result.launches
            if launch.pool == info.pool.name
        ]


def _node_cost(node: Node) -> float:
    """The cost of a node with no known VM: its allocatable, a lower bound of its shape."""
    return shape_cost(node.allocatable.cpu, node.allocatable.memory)


def _try_place(
    pods: Sequence[Pod], states: Sequence[NodeState], by_name: Mapping[str, NodeState]
) -> dict[str, str] | None:
    """Place all of ``pods`` or none: on failure the partial placement is undone."""
    if not pods:
        return {}
    placed = place(pods, states)
    if len(placed) == len(pods):
        return placed
    _undo(pods, placed, by_name)
    return None


def _undo(pods: Sequence[Pod], placed: Mapping[str, str], by_name: Mapping[str, NodeState]) -> None:
    for pod in pods:
        node = placed.get(pod.key)
        if node is not None:
            by_name[node].remove(pod)
