"""One scheduling pass, without I/O: which pending pods go where, and why the rest cannot.

Nodes are tried most-requested first (the stand-in for kube-scheduler's MostAllocated scoring
that the simulator's scheduler uses too), with the core's predicates and first-fit placement.
Only Ready, schedulable nodes take pods; every node that is not being deleted counts in the
"0/N nodes are available" message, a not-Ready one as the not-ready taint would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.core.equivalence import group_equivalent
from autoscaler.core.model import Node, Pod
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import place
from testbed.agents.hosts import NOT_READY
from testbed.agents.reasons import unschedulable_message


@dataclass(frozen=True, slots=True)
class Decision:
    bindings: Mapping[str, str] = field(default_factory=dict)  # pod key -> node name
    unschedulable: Mapping[str, str] = field(default_factory=dict)  # pod key -> message


def most_requested_first(state: NodeState) -> tuple[float, str]:
    alloc, used = state.allocatable, state.used
    share = max(
        used.cpu / alloc.cpu if alloc.cpu else 1.0,
        used.memory / alloc.memory if alloc.memory else 1.0,
    )
    return (-share, state.name)


def decide(
    pending: Sequence[Pod], nodes: Sequence[Node], bound: Mapping[str, Sequence[Pod]]
) -> Decision:
    """Place ``pending`` on ``nodes`` (which already hold the pods in ``bound``)."""
    present = [node for node in nodes if not node.deleting]
    usable = [node for node in present if node.ready]
    states = sorted(
        (NodeState.from_node(node, bound.get(node.name, ())) for node in usable),
        key=most_requested_first,
    )
    placed = place(pending, states) if states else {}
    left = [pod for pod in pending if pod.key not in placed]
    not_ready = len(present) - len(usable)
    unschedulable: dict[str, str] = {}
    for cls in group_equivalent(left):
        for pod in cls.pods if cls.per_pod_checks else cls.pods[:1]:
            reasons = [state.fit_failure(pod) for state in states]
            if any(reason is None for reason in reasons):
                continue  # fits after all (pods of a class constrain each other): next pass
            message = unschedulable_message(
                len(present), [r for r in reasons if r] + [NOT_READY] * not_ready
            )
            targets = cls.pods if not cls.per_pod_checks else [pod]
            unschedulable.update((target.key, message) for target in targets)
    return Decision(placed, unschedulable)
