"""Unneeded nodes: empty and under-utilised nodes whose pods fit on the nodes that stay."""

from __future__ import annotations

from autoscaler.core.disruption.scan import Scan
from autoscaler.core.disruption.whatif import try_place
from autoscaler.core.predicates import NodeState


def find_unneeded(scan: Scan) -> list[str]:
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
    checks_left = scan.config.max_non_empty_candidates_per_pass
    seen_before = scan.state.unneeded_since
    ordered = sorted(scan.candidates, key=lambda c: c.node.name not in seen_before)
    for candidate in ordered:
        pool = candidate.pool
        assert pool.settings is not None
        name = candidate.node.name
        if pool.name in scan.holds or name in receivers or candidate.permanently_blocked:
            continue
        if candidate.moved:
            if candidate.utilization >= pool.settings.scale_down_utilization_threshold:
                continue
            if checks_left <= 0:
                continue
            checks_left -= 1
            if not by_name:  # built only when some pods have to move
                states = scan.destinations()
                by_name = {state.name: state for state in states}
            others = [s for s in states if s.name not in gone and s.name != name]
            placed = try_place(candidate.moved, others, by_name)
            if placed is None:
                continue
            receivers.update(placed.values())
        gone.add(name)
        unneeded.append(name)
    order = {c.node.name: index for index, c in enumerate(scan.candidates)}
    return sorted(unneeded, key=order.__getitem__)
