"""The tenant's kube-scheduler: each cycle binds pending pods to Ready schedulable nodes.

Feasibility uses the core's predicates. Scoring follows the two resource scores of
kube-scheduler's default profile, with their default equal weights: NodeResourcesFit's
LeastAllocated (the mean free share of cpu and memory once the pod is on the node) and
NodeResourcesBalancedAllocation (one minus half the gap between the node's cpu and memory
requested shares). Ties go to the first node by name. So pods spread over nodes, and lean
towards nodes whose other resource is the fuller one, as they do in a real cluster, and do
not follow the autoscaler's plan. Pods are taken by priority, then oldest first. Pods that
fit nowhere get ``PodScheduled=False`` with reason Unschedulable, which is what the
autoscaler watches for. A cycle is skipped when nothing changed since the last one.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
from collections.abc import Sequence

from autoscaler.api.resources import Resources
from autoscaler.core.equivalence import PodClass, group_equivalent
from autoscaler.core.model import Pod
from autoscaler.core.predicates import NodeState
from autoscaler.sim.engine import Engine
from autoscaler.sim.world import SimWorld


def requested_shares(state: NodeState, requests: Resources) -> tuple[float, ...]:
    """The node's requested share of cpu and of memory with the pod added (capped at 1)."""
    alloc, used = state.allocatable, state.used
    return tuple(
        min(1.0, (used[name] + requests[name]) / alloc[name]) if alloc[name] > 0 else 1.0
        for name in ("cpu", "memory")
    )


def default_profile_score(state: NodeState, requests: Resources) -> float:
    """LeastAllocated plus BalancedAllocation, each scaled to [0, 1]."""
    cpu, memory = requested_shares(state, requests)
    least_allocated = 1.0 - (cpu + memory) / 2
    balanced_allocation = 1.0 - abs(cpu - memory) / 2
    return least_allocated + balanced_allocation


def _queue_order(cls: PodClass) -> tuple[int, float, str]:
    first = min(cls.pods, key=lambda p: (p.created, p.key))
    return (-first.priority, first.created, first.key)


def place_by_default_profile(pods: Sequence[Pod], nodes: Sequence[NodeState]) -> dict[str, str]:
    """Bind each pod to its best-scoring feasible node; return pod key -> node name and add
    the pods to ``nodes``."""
    if not pods or not nodes:
        return {}
    with_identity = any(n.has_anti_affinity_pods for n in nodes) or None
    placed: dict[str, str] = {}
    for cls in sorted(group_equivalent(pods, with_identity), key=_queue_order):
        _place_class(cls, nodes, placed)
    return placed


def _place_class(cls: PodClass, nodes: Sequence[NodeState], placed: dict[str, str]) -> None:
    rep = cls.representative
    requests = rep.requests
    per_pod = cls.per_pod_checks
    heap = [
        (-default_profile_score(node, requests), node.name, index)
        for index, node in enumerate(nodes)
        if node.static_failure(rep) is None
    ]
    heapq.heapify(heap)
    todo = sorted(cls.pods, key=lambda p: (p.created, p.key))
    for pod in todo:
        skipped = []
        while heap:
            entry = heapq.heappop(heap)
            node = nodes[entry[2]]
            fits = node.dynamic_failure(pod) if per_pod else node.how_many(cls.vector) > 0
            if fits is None or fits is True:
                node.add(pod)
                placed[pod.key] = node.name
                heapq.heappush(heap, (-default_profile_score(node, requests), node.name, entry[2]))
                break
            if per_pod:  # another pod of the class may still fit there
                skipped.append(entry)
        for entry in skipped:
            heapq.heappush(heap, entry)
        if not heap:
            break


class Scheduler:
    def __init__(self, engine: Engine, world: SimWorld, pod_start_delay: float) -> None:
        self._engine = engine
        self._world = world
        self._start_delay = pod_start_delay
        self._seen_revision = -1
        self.cycles = 0

    def cycle(self) -> None:
        world = self._world
        if world.revision == self._seen_revision:
            return
        pending = world.unbound_pods()
        if not pending:
            self._seen_revision = world.revision
            return
        self.cycles += 1
        states = sorted(
            (n.state for n in world.ready_nodes() if n.state.schedulable), key=lambda s: s.name
        )
        placed = place_by_default_profile(pending, states)
        now = self._engine.now
        for key, node_name in sorted(placed.items()):
            world.bind(key, node_name, placed=True)
            self._engine.after(self._start_delay, functools.partial(world.start_pod, key))
        for pod in pending:
            if pod.key not in placed and not pod.unschedulable:
                world.set_pod(_unschedulable(pod, now))
        self._seen_revision = world.revision


def _unschedulable(pod: Pod, now: float) -> Pod:
    return dataclasses.replace(pod, unschedulable=True, unschedulable_since=now)
