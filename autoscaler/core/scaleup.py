"""Scale-up planning: where every pending pod goes, and which VMs to launch for it.

Pending pods go first onto existing Ready nodes (the tenant's scheduler may not have retried
yet), then onto VMs still launching (their future node), then into new VMs sized for them in
the pool that hosts them best: the highest weight, then the fewest new resources, then the
name. A pool that cannot take a pod (shape too small, at max-nodes, hosts full) passes it to
the next pool that admits it. Within a pool, a pod is sized into the zones whose nodes admit
it (nodeSelector and required affinity see the zone labels), the zone with the most free host
room first; a zone whose hosts are full passes the pod to the pool's next zone.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.api.resources import Resources
from autoscaler.core.actions import Explanation, LaunchVM, Verdict
from autoscaler.core.config import disrupting_taint_of
from autoscaler.core.equivalence import PodClass, group_equivalent
from autoscaler.core.future_node import future_node
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    NO_ZONE,
    Node,
    Pod,
    Pool,
    Snapshot,
    VMPhase,
    Zone,
)
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.pending import DEFAULT_SCHEDULERS
from autoscaler.core.plan_budget import PlanBudget
from autoscaler.core.pool_choice import PoolChooser
from autoscaler.core.predicates import NodeState
from autoscaler.core.rightsizing import SizedVM, size_for_classes, top_up_min_nodes
from autoscaler.core.scheduling import place_classes
from autoscaler.core.topology_filters import TopologyFilters, needs_topology_filters
from autoscaler.core.unmodelled import not_planned_message, placement_unknowns

SAMPLE_SIZE = 3
# How many times pods spread over zones go round the zones of their pools in one plan.
SPREAD_ROUNDS = 8
# A pool that refuses pods for these reasons may still leave room in another pool.
_PASS_ON = frozenset(
    {
        Verdict.EXCEEDS_LARGEST_SHAPE,
        Verdict.POOL_AT_MAX,
        Verdict.HOSTS_FULL,
        Verdict.CONSTRAINTS_UNSATISFIED,
    }
)
_GONE = (VMPhase.FAILED, VMPhase.DELETING)
_SEEN = "unschedulable-after-ready"  # marks the classes split off by _after_seen


@dataclass(frozen=True, slots=True)
class ScaleUpResult:
    launches: tuple[LaunchVM, ...] = ()
    explanations: tuple[Explanation, ...] = ()
    # Pod key -> existing node or launching VM the pod fits on (new VMs list their pods).
    placements: Mapping[str, str] = field(default_factory=dict)
    # Pool name -> why it could not do all it was asked (at max, hosts full, limits).
    pool_messages: tuple[tuple[str, str], ...] = ()


class _Outcomes:
    """Verdicts per pod, grouped into explanations per equivalence class, verdict and pool."""

    def __init__(self, classes: Sequence[PodClass]) -> None:
        self.class_of: dict[str, Hashable] = {p.key: cls.key for cls in classes for p in cls.pods}
        self.groups: dict[tuple[Hashable, Verdict, str | None], tuple[list[str], str]] = {}
        # Class key -> why its pods were planned as they were, added to every message.
        self.notes: dict[Hashable, str] = {}

    def record(self, pods: Iterable[Pod], verdict: Verdict, pool: str | None, message: str) -> None:
        class_of, groups = self.class_of, self.groups
        for pod in pods:
            key = (class_of.get(pod.key), verdict, pool)
            group = groups.get(key)
            if group is None:
                group = groups[key] = ([], message)
            group[0].append(pod.key)

    def explanations(self) -> tuple[Explanation, ...]:
        notes = self.notes
        return tuple(
            Explanation(
                verdict,
                len(keys),
                tuple(keys[:SAMPLE_SIZE]),
                pool,
                f"{message}; {notes[cls]}" if cls in notes else message,
            )
            for (cls, verdict, pool), (keys, message) in self.groups.items()
        )


def _names(values: Iterable[str]) -> str:
    distinct = sorted(set(values))
    more = f" and {len(distinct) - SAMPLE_SIZE} more" if len(distinct) > SAMPLE_SIZE else ""
    return ", ".join(distinct[:SAMPLE_SIZE]) + more


def _schedulable(node: Node) -> bool:
    """Whether planned pods may go to this existing node. A node cordoned by someone else
    still takes the pods that tolerate the unschedulable taint (NodeUnschedulable decides,
    per pod); one we are draining takes nothing we plan, whatever the pod tolerates."""
    return node.ready and not node.deleting and disrupting_taint_of(node) is None


def _pool_node_counts(snapshot: Snapshot) -> dict[str, int]:
    """Nodes per pool: its VMs that are not being deleted, plus labelled nodes with no VM."""
    counts: dict[str, int] = {}
    known: set[str] = set()
    for vm in snapshot.vms:
        known.add(vm.name)
        if vm.node_name:
            known.add(vm.node_name)
        if vm.phase != VMPhase.DELETING:
            counts[vm.pool] = counts.get(vm.pool, 0) + 1
    for node in snapshot.nodes:
        pool = node.pool
        if pool and node.name not in known and not node.deleting:
            counts[pool] = counts.get(pool, 0) + 1
    return counts


def _launching_nodes(
    snapshot: Snapshot,
    pools: Mapping[str, Pool],
    bound: Mapping[str, Sequence[Pod]],
    unhealthy: Collection[str],
) -> list[NodeState]:
    """The nodes that VMs still on their way will become."""
    nodes = {node.name: node for node in snapshot.nodes}
    states = []
    for vm in sorted(snapshot.vms, key=lambda v: v.name):
        if vm.phase in _GONE:
            continue
        name = vm.node_name or vm.name
        node = nodes.get(name)
        if node is not None and (
            node.ready or node.unschedulable or node.deleting or name in unhealthy
        ):
            continue  # registered: an existing node, in use, on its way out or down
        pool = pools.get(vm.pool) or Pool(vm.pool)
        states.append(
            future_node(
                name,
                pool,
                vm.shape,
                snapshot.daemonsets,
                bound.get(name, ()),
                vm.image_hash,
                vm.zone,
            )
        )
    return states


def _launch_action(vm: SizedVM, pool: Pool, detail: str) -> LaunchVM:
    assert pool.settings is not None
    return LaunchVM(
        pool=vm.pool,
        shape=vm.shape,
        image=pool.settings.image,
        image_hash=pool.image_hash or "",
        reason=vm.reason,
        host=vm.host,
        pods=tuple(p.key for p in vm.pods),
        detail=detail,
        zone=vm.zone,
    )


def plan_scale_up(
    snapshot: Snapshot,
    pools: Sequence[Pool],
    schedulers: frozenset[str] = DEFAULT_SCHEDULERS,
    min_loads: Mapping[str, Resources] | None = None,
    cache: NodeCache | None = None,
    unhealthy: Collection[str] = (),
) -> ScaleUpResult:
    """Plan for every pending pod; launch VMs only in the given (active) pools.

    ``min_loads`` maps a pool to the load each of its new VMs is sized to hold at least
    (see :func:`~autoscaler.core.rightsizing.size_for_classes`); ``cache`` reuses the
    NodeStates of unchanged nodes from earlier plans; ``unhealthy`` names NotReady nodes
    that were Ready once, which take no pods (they still count towards their pool's size)."""
    cache = cache if cache is not None else NodeCache(enabled=False)
    pending = cache.pending(snapshot.pods, schedulers)
    unreadable = [pod for pod in pending if pod.unmodelled and placement_unknowns(pod)]
    if unreadable:
        pending = [pod for pod in pending if not (pod.unmodelled and placement_unknowns(pod))]
    blocked = [pod for pod in pending if pod.blocked]
    if blocked:
        pending = [pod for pod in pending if not pod.blocked]
    # One grouping serves every step; it carries identity if any pod has anti-affinity.
    with_identity = cache.any_anti_affinity(snapshot.pods)
    rest = group_equivalent(pending, with_identity)
    ready = sorted((n for n in snapshot.nodes if _schedulable(n)), key=lambda n: n.name)
    rest, refused = _after_seen(rest, ready)
    outcomes = _Outcomes([*rest, *(cls for _, group in refused for cls in group)])
    for pod in unreadable:
        outcomes.class_of[pod.key] = ("unmodelled", placement_unknowns(pod))
        outcomes.record((pod,), Verdict.UNMODELLED, None, not_planned_message(pod))
    for pod in blocked:  # one explanation per reason
        outcomes.class_of[pod.key] = (Verdict.VOLUME_BLOCKED, pod.blocked)
        outcomes.record((pod,), Verdict.VOLUME_BLOCKED, None, pod.blocked)
    for seen, group in refused:
        note = (
            f"it stayed unschedulable after the scheduler had seen {_names(seen)} Ready, "
            "so it is not counted on those node(s) again"
        )
        for cls in group:
            outcomes.notes[cls.key] = note
    placements: dict[str, str] = {}
    filters: TopologyFilters | None = None
    chooser = PoolChooser(pools, snapshot)
    if rest or refused:
        bound = cache.bound(snapshot.pods)
        existing = [cache.state(n, bound.get(n.name, ())) for n in ready]
        filters = _topology_filters(snapshot, pending, with_identity, existing, bound)
        rest = _settle(rest, existing, Verdict.FITS_EXISTING, placements, outcomes)
        for seen, group in refused:
            unseen = [s for n, s in zip(ready, existing, strict=True) if n.name not in seen]
            rest.extend(_settle(group, unseen, Verdict.FITS_EXISTING, placements, outcomes))
        if rest:
            known = {p.name: p for p in snapshot.pools}
            known.update((p.name, p) for p in pools)
            launching = _launching_nodes(snapshot, known, bound, unhealthy)
            if filters is not None:
                for state in launching:
                    filters.remove_node(state.name)  # counted as a registered node so far
                    filters.attach(state)
                _expect_new_nodes(filters, chooser)
            rest = _settle(rest, launching, Verdict.FITS_LAUNCHING, placements, outcomes)

    budget = PlanBudget(snapshot.hosts, snapshot.limits, snapshot.vms, _pool_node_counts(snapshot))
    vms: list[SizedVM] = []
    pool_messages: dict[str, str] = {}
    if rest:
        vms.extend(
            _size_new_vms(
                rest, snapshot, chooser, budget, outcomes, pool_messages, min_loads or {}, filters
            )
        )
    details = {id(vm): f"sized for {len(vm.pods)} pending pod(s)" for vm in vms}
    for pool in chooser.pools:
        assert pool.settings is not None
        missing = pool.settings.min_nodes - budget.pool_nodes(pool.name)
        if missing > 0:
            added, why = top_up_min_nodes(
                pool, snapshot.shape_bounds, budget, missing, chooser.zones[pool.name]
            )
            for vm in added:
                details[id(vm)] = f"pool {pool.name} has fewer than {pool.settings.min_nodes} nodes"
            vms.extend(added)
            if why:
                pool_messages.setdefault(pool.name, f"min-nodes not reached: {why}")
    by_name = {p.name: p for p in chooser.pools}
    launches = tuple(_launch_action(vm, by_name[vm.pool], details[id(vm)]) for vm in vms)
    return ScaleUpResult(
        launches, outcomes.explanations(), placements, tuple(sorted(pool_messages.items()))
    )


def _after_seen(
    classes: list[PodClass], ready: Sequence[Node]
) -> tuple[list[PodClass], list[tuple[frozenset[str], list[PodClass]]]]:
    """Split off the pods that the scheduler already found no room for on some Ready nodes.

    A pod marked Unschedulable after a node became Ready was tried on that node (with every
    rule of the real scheduler, some of which the model may lack) and did not fit. Counting on
    that node again could leave it pending for good, so it is not counted on it: it gets the
    nodes that became Ready since, then launching and new VMs. Returns the other classes and,
    per set of nodes seen, the classes of the pods that may not use them (keyed apart, so that
    they are explained apart).
    """
    times = sorted(node.seen_since for node in ready)
    if not times:
        return classes, []
    first = times[0]
    fresh: list[PodClass] = []
    by_seen: dict[int, list[PodClass]] = {}
    for cls in classes:
        keep: list[Pod] = []
        later: dict[int, list[Pod]] = {}
        for pod in cls.pods:
            since = pod.unschedulable_since
            if since is None or since <= first:
                keep.append(pod)
            else:
                later.setdefault(bisect_left(times, since), []).append(pod)
        if keep:
            fresh.append(cls if not later else PodClass(cls.key, keep, cls.vector))
        for count, pods in later.items():
            group = by_seen.setdefault(count, [])
            group.append(PodClass((_SEEN, count, cls.key), pods, cls.vector))
    refused = []
    for count, group in sorted(by_seen.items()):
        last = times[count - 1]
        refused.append((frozenset(n.name for n in ready if n.seen_since <= last), group))
    return fresh, refused


def _topology_filters(
    snapshot: Snapshot,
    pending: Sequence[Pod],
    with_identity: bool,
    existing: Sequence[NodeState],
    bound: Mapping[str, Sequence[Pod]],
) -> TopologyFilters | None:
    """The cluster-wide filters over every node, when some pod needs them (None otherwise).

    The ready nodes take pods; every other registered node still holds a topology domain and
    pods that count, as it does for the scheduler.
    """
    if not needs_topology_filters(pending) and not (
        with_identity
        and needs_topology_filters(p for p in snapshot.pods if p.required_anti_affinity)
    ):
        return None
    filters = TopologyFilters(snapshot.namespace_labels)
    for state in existing:
        filters.attach(state)
    attached = {state.name for state in existing}
    for node in snapshot.nodes:
        if node.name not in attached:
            filters.add_node(node.name, node.labels, node.taints, bound.get(node.name, ()))
    return filters


def _expect_new_nodes(filters: TopologyFilters, chooser: PoolChooser) -> None:
    """From here on the plan places pods on nodes that come up together with the new VMs it
    may still open. Each such VM is a topology domain of its own (its hostname) and may open
    a zone that holds no node yet: one empty placeholder node per pool and zone stands for
    them, so that no placement relies on a skew those new domains would break."""
    for (pool, zone), template in chooser.templates.items():
        name = filters.unused_name(f"{pool}-{zone}-possible")
        labels = {**template.labels, HOSTNAME_LABEL: name}
        filters.add_node(name, labels, template.taints, ())


def _settle(
    classes: list[PodClass],
    nodes: list[NodeState],
    verdict: Verdict,
    placements: dict[str, str],
    outcomes: _Outcomes,
) -> list[PodClass]:
    """Place what fits on ``nodes``; record it; return the classes of the pods left."""
    if not nodes:
        return classes
    placed = place_classes(classes, nodes)
    if not placed:
        return classes
    placements.update(placed)
    where = "existing node(s)" if verdict is Verdict.FITS_EXISTING else "launching VM(s)"
    left = []
    for cls in classes:
        fitted = [p for p in cls.pods if p.key in placed]
        if fitted:
            targets = _names(placed[p.key] for p in fitted)
            outcomes.record(fitted, verdict, None, f"fits on {where} {targets}")
        if len(fitted) < len(cls.pods):
            left.append(PodClass(cls.key, [p for p in cls.pods if p.key not in placed], cls.vector))
    return left


def _size_new_vms(
    classes: list[PodClass],
    snapshot: Snapshot,
    chooser: PoolChooser,
    budget: PlanBudget,
    outcomes: _Outcomes,
    pool_messages: dict[str, str],
    min_loads: Mapping[str, Resources],
    filters: TopologyFilters | None = None,
) -> list[SizedVM]:
    """Assign each class to its best pool and zone, size, and pass refused pods on to the
    next zone of the pool, then the next pool."""
    # Per class: the (pool, zone) pairs to try, best first, and what those tried said.
    plans: dict[Hashable, tuple[list[tuple[Pool, Zone]], list[str], PodClass]] = {}
    todo: list[tuple[Hashable, list[Pod], int]] = []
    for cls in classes:
        admitted, refusals = chooser.admitting(cls.representative)
        if not admitted:
            why = "; ".join(refusals) if refusals else "no NodePool is active for this tenant"
            outcomes.record(cls.pods, Verdict.NO_POOL_MATCHES, None, f"no pool admits it: {why}")
            continue
        pools = [p for p in chooser.pools if p.name in admitted]
        candidates = [
            (pool, zone) for pool in chooser.ranked(cls.pods, pools) for zone in admitted[pool.name]
        ]
        if len(candidates) > 1 and _spreads_across_nodes(cls.representative):
            # Each zone takes what the skew allows now; after the others took theirs, it
            # may take more: go round the zones again, a few times.
            candidates = candidates * SPREAD_ROUNDS
        plans[cls.key] = (candidates, [], cls)
        todo.append((cls.key, cls.pods, 0))

    vms: list[SizedVM] = []
    while todo:
        by_unit: dict[tuple[str, Zone], dict[tuple[Hashable, int], list[Pod]]] = {}
        for key, group, position in todo:
            pool, zone = plans[key][0][position]
            work = by_unit.setdefault((pool.name, zone), {})
            work.setdefault((key, position), []).extend(group)
        todo = []
        for pool in chooser.pools:
            for zone in chooser.zones[pool.name]:
                work = by_unit.get((pool.name, zone), {})
                if work:
                    todo.extend(
                        _size_unit(
                            pool,
                            zone,
                            work,
                            plans,
                            snapshot,
                            chooser,
                            budget,
                            outcomes,
                            pool_messages,
                            min_loads,
                            vms,
                            filters,
                        )
                    )
    return vms


def _spreads_across_nodes(pod: Pod) -> bool:
    """Whether the pod spreads over domains wider than one node (zones, regions, racks)."""
    return any(c.topology_key != HOSTNAME_LABEL for c in pod.topology_spread)


def _size_unit(
    pool: Pool,
    zone: Zone,
    work: Mapping[tuple[Hashable, int], list[Pod]],
    plans: Mapping[Hashable, tuple[list[tuple[Pool, Zone]], list[str], PodClass]],
    snapshot: Snapshot,
    chooser: PoolChooser,
    budget: PlanBudget,
    outcomes: _Outcomes,
    pool_messages: dict[str, str],
    min_loads: Mapping[str, Resources],
    vms: list[SizedVM],
    filters: TopologyFilters | None = None,
) -> list[tuple[Hashable, list[Pod], int]]:
    """Size new VMs of ``pool`` in ``zone`` for ``work``; return the pods to try elsewhere."""
    tried = {p.key: entry for entry, group in work.items() for p in group}
    sizing = size_for_classes(
        pool,
        [PodClass(key, group, plans[key][2].vector) for (key, _), group in work.items()],
        snapshot.shape_bounds,
        chooser.overhead[pool.name, zone],
        budget,
        min_loads.get(pool.name),
        zone,
        filters,
    )
    vms.extend(sizing.vms)
    where = f"pool {pool.name}" if zone == NO_ZONE else f"pool {pool.name} in zone {zone}"
    for vm in sizing.vms:
        outcomes.record(vm.pods, Verdict.NEW_VM, pool.name, f"sized into new VM(s) of {where}")
    todo: list[tuple[Hashable, list[Pod], int]] = []
    for refused in sizing.unserved:
        by_class: dict[tuple[Hashable, int], list[Pod]] = {}
        for pod in refused.pods:
            by_class.setdefault(tried[pod.key], []).append(pod)
        for (key, position), group in by_class.items():
            candidates, said, _ = plans[key]
            reason = f"{where}: {refused.message}"
            if reason not in said:  # pods spread over zones may try a zone more than once
                said.append(reason)
            more = position + 1 < len(candidates)
            # Full hosts in one zone say nothing about the pool while another zone may serve.
            if refused.verdict is Verdict.POOL_AT_MAX or (
                refused.verdict is Verdict.HOSTS_FULL
                and not (more and candidates[position + 1][0].name == pool.name)
            ):
                pool_messages.setdefault(pool.name, refused.message)
            if refused.verdict in _PASS_ON and more:
                todo.append((key, group, position + 1))
            else:
                outcomes.record(group, refused.verdict, pool.name, "; ".join(said))
    return todo
