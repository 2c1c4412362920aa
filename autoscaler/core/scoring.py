"""Where kube-scheduler's default profile puts pods: its queue order and its node scores.

The queue pops pods by priority, highest first, then by the time they were queued, oldest
first (the PrioritySort plugin; a pod's creation stands for its queue time). Each pod goes
to the feasible node with the highest score; the default profile's resource scores are
NodeResourcesFit with LeastAllocated and NodeResourcesBalancedAllocation, weight 1 each,
computed in integers as upstream does (``noderesources/least_allocated.go``,
``balanced_allocation.go``). The other default scores (TaintToleration, NodeAffinity,
ImageLocality, PodTopologySpread, InterPodAffinity) are equal on nodes of one pool for pods
without preferences, and are left out. The real scheduler breaks ties at random; here the
first node in the given order wins, which makes the answer deterministic.

The sequential placement finds each pod's best node without scoring every node: the score
is at most ``200 - 100 * max(cpu share, memory share)`` of the node before the pod, so nodes
are visited emptiest first and the walk stops once no node left can beat the best found.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from autoscaler.api.resources import CPU, MEMORY, Resources
from autoscaler.core.model import Pod
from autoscaler.core.predicates import NodeState

MAX_NODE_SCORE = 100


def _least_requested(requested: int, capacity: int) -> int:
    if capacity == 0 or requested > capacity:
        return 0
    return (capacity - requested) * MAX_NODE_SCORE // capacity


def resource_score(
    cpu_requested: int, memory_requested: int, cpu_capacity: int, memory_capacity: int
) -> int:
    """LeastAllocated plus BalancedAllocation for a node whose requests, the pod's
    included, are ``cpu_requested`` and ``memory_requested``."""
    least = (
        _least_requested(cpu_requested, cpu_capacity)
        + _least_requested(memory_requested, memory_capacity)
    ) // 2
    fractions = [
        min(1.0, requested / capacity)
        for requested, capacity in (
            (cpu_requested, cpu_capacity),
            (memory_requested, memory_capacity),
        )
        if capacity > 0
    ]
    spread = abs(fractions[0] - fractions[1]) / 2 if len(fractions) == 2 else 0.0
    return least + int((1 - spread) * MAX_NODE_SCORE)


def default_profile_score(node: NodeState, requests: Resources) -> int:
    """The score of ``node`` for a pod with ``requests`` (which must fit)."""
    cpu, memory, _ = node.room()
    alloc = node.allocatable
    cpu_capacity, memory_capacity = alloc[CPU], alloc[MEMORY]
    cpu_requested = cpu_capacity - cpu + requests[CPU]
    memory_requested = memory_capacity - memory + requests[MEMORY]
    if requests[CPU] == 0 and requests[MEMORY] == 0:
        # A best-effort pod skips BalancedAllocation (upstream's isBestEffortPod).
        return (
            _least_requested(cpu_requested, cpu_capacity)
            + _least_requested(memory_requested, memory_capacity)
        ) // 2
    return resource_score(cpu_requested, memory_requested, cpu_capacity, memory_capacity)


def queue_order(pod: Pod) -> tuple[int, float, str]:
    """PrioritySort: higher priority first, then earlier queued (created) first."""
    return (-pod.priority, pod.created, pod.key)


def _bound(node: NodeState) -> int:
    """An upper bound of the node's score for any pod: 200 - 100 * its fuller share."""
    cpu, memory, _ = node.room()
    alloc = node.allocatable
    cpu_capacity, memory_capacity = alloc[CPU], alloc[MEMORY]
    if cpu_capacity <= 0 or memory_capacity <= 0:
        return 2 * MAX_NODE_SCORE + 1  # not bounded this way: always looked at
    fuller = max(1 - cpu / cpu_capacity, 1 - memory / memory_capacity)
    return int(2 * MAX_NODE_SCORE - MAX_NODE_SCORE * min(1.0, max(0.0, fuller))) + 1


def schedule(pods: Sequence[Pod], nodes: Sequence[NodeState]) -> dict[str, str]:
    """Bind each pod, in queue order, to its best-scoring feasible node (ties: the first in
    ``nodes``); add it there and return pod key -> node name. Pods that fit nowhere are left
    out, as the scheduler leaves them pending."""
    placed: dict[str, str] = {}
    if not nodes:
        return placed
    # (-bound, position), ascending: the nodes that may score highest first.
    order = sorted((-_bound(node), position) for position, node in enumerate(nodes))
    for pod in sorted(pods, key=queue_order):
        requests = pod.requests
        cpu, memory = requests[CPU], requests[MEMORY]
        best = -1
        best_score = -1
        for negative_bound, position in order:
            if -negative_bound < best_score:
                break  # no node from here on can beat (or tie) the best
            node = nodes[position]
            free_cpu, free_memory, free_pods = node.room()
            if free_cpu < cpu or free_memory < memory or free_pods < 1:
                continue  # short of room: the predicates would say so, more slowly
            if node.fit_failure(pod) is not None:
                continue
            score = default_profile_score(node, requests)
            if score > best_score or (score == best_score and position < best):
                best, best_score = position, score
        if best < 0:
            continue
        node = nodes[best]
        del order[bisect_left(order, (-_bound(node), best))]
        node.add(pod)
        placed[pod.key] = node.name
        insort(order, (-_bound(node), best))
    return placed
