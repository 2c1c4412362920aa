"""The scheduling simulation: where would the scheduler put these pods on these nodes?

First-fit in the given node order, which makes the answer deterministic and lets callers
express preference by ordering nodes. A :class:`NodeIndex` of free capacity skips the nodes
without room, so pods that are all different (as a vertical pod autoscaler makes them) do
not cost a walk over every node each. Equivalent pods are placed as a class: the static
predicates (schedulable, selectors, taints) are evaluated once per class and node signature,
and as many pods as fit are put on a node in one step.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from autoscaler.core.equivalence import PodClass, group_equivalent
from autoscaler.core.model import Pod, PodPhase
from autoscaler.core.nodeindex import NodeIndex
from autoscaler.core.predicates import NodeState

_TERMINAL = (PodPhase.SUCCEEDED, PodPhase.FAILED)


def bound_pods_by_node(pods: Iterable[Pod]) -> dict[str, list[Pod]]:
    """Pods that hold capacity on a node: bound (node_name set) and not terminal.

    Terminating pods are kept: the scheduler counts them until they are gone.
    """
    by_node: dict[str, list[Pod]] = {}
    for pod in pods:
        if pod.node_name and pod.phase not in _TERMINAL:
            by_node.setdefault(pod.node_name, []).append(pod)
    return by_node


def placement_order(cls: PodClass) -> tuple[int, int, int]:
    """Higher priority first, then larger pods first (first-fit decreasing)."""
    vector = cls.vector
    return (-cls.representative.priority, -vector.cpu, -vector.memory)


def place(pods: Sequence[Pod], nodes: Sequence[NodeState]) -> dict[str, str]:
    """Place what fits; return pod key -> node name and add the placed pods to ``nodes``."""
    if not pods or not nodes:
        return {}
    with_identity = any(n.has_anti_affinity_pods for n in nodes)
    return place_classes(group_equivalent(pods, with_identity or None), nodes)


def place_classes(classes: Iterable[PodClass], nodes: Sequence[NodeState]) -> dict[str, str]:
    """:func:`place` for pods already grouped; the classes must carry namespace and labels
    (``with_identity``) when any pod, pending or on a node, has required anti-affinity."""
    placed: dict[str, str] = {}
    if nodes:
        index = NodeIndex(nodes)
        for cls in sorted(classes, key=placement_order):
            place_class(cls, nodes, placed, index)
    return placed


def place_class(
    cls: PodClass,
    nodes: Sequence[NodeState],
    placed: dict[str, str],
    index: NodeIndex | None = None,
) -> int:
    """First-fit the pods of one class; record them in ``placed``; return how many.

    ``index`` is a :class:`NodeIndex` of ``nodes`` kept by the caller across calls (one is
    built when it is not given); only the nodes it says may have room are looked at."""
    todo = cls.pods
    total = len(todo)
    if not total:
        return 0
    if index is None:
        index = NodeIndex(nodes)
    rep = cls.representative
    requests = rep.requests
    vector = cls.vector
    bulk = not cls.per_pod_checks
    per_node_static = cls.names_its_node
    static_ok: dict[Hashable, bool] = {}
    done = 0
    for position in index.candidates(vector):
        node = nodes[position]
        if per_node_static:
            fits = node.static_failure(rep) is None
        else:
            signature = node.signature
            cached = static_ok.get(signature)
            if cached is None:
                cached = static_ok[signature] = node.static_failure(rep) is None
            fits = cached
        if not fits:
            continue
        before = done
        if bulk and not node.has_anti_affinity_pods:
            count = node.how_many(vector)
            if count <= 0:
                continue
            batch = todo[done : done + count]
            node.add_equivalent(batch, requests)
            name = node.name
            for pod in batch:
                placed[pod.key] = name
            done += len(batch)
        else:
            while done < total and node.dynamic_failure(todo[done]) is None:
                node.add(todo[done])
                placed[todo[done].key] = node.name
                done += 1
        if done > before:
            index.update(position)
        if done >= total:
            break
    return done
