"""The world after a removal: what the next scale-up would see, and where moved pods land.

Every method checks a removal against these what-ifs, and so does the resumption of a removal
a previous instance started.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

from autoscaler.core.actions import LaunchVM
from autoscaler.core.eviction import movable_pods
from autoscaler.core.model import Node, Pod, PodPhase, Pool, Snapshot
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import place


class Launches(Protocol):
    """What scale-down needs from a scale-up result."""

    @property
    def launches(self) -> Sequence[LaunchVM]: ...

    @property
    def placements(self) -> Mapping[str, str]: ...


# plan_scale_up(snapshot, pools, unhealthy), injected so that this module does not depend on
# how scale-up is computed; ``unhealthy`` are the nodes, Ready once, that are NotReady now.
ScaleUpPlanner = Callable[[Snapshot, Sequence[Pool], Collection[str]], Launches]


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
    return try_place(moved, states, {s.name: s for s in states}) is not None


def try_place(
    pods: Sequence[Pod], states: Sequence[NodeState], by_name: Mapping[str, NodeState]
) -> dict[str, str] | None:
    """Place all of ``pods`` or none: on failure the partial placement is undone."""
    if not pods:
        return {}
    placed = place(pods, states)
    if len(placed) == len(pods):
        return placed
    undo(pods, placed, by_name)
    return None


def undo(pods: Sequence[Pod], placed: Mapping[str, str], by_name: Mapping[str, NodeState]) -> None:
    for pod in pods:
        node = placed.get(pod.key)
        if node is not None:
            by_name[node].remove(pod)
