"""Drift and expiry: nodes rotated because of what they are (see :mod:`autoscaler.core.drift`).

Both are one method: a single walk over the candidates in candidate order, drifted and
expired nodes alike, so that they share the pass's budget in that order. A node whose pods
fit elsewhere is drained; otherwise a replacement is launched first and the node is drained
once the new node is Ready.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from autoscaler.core.actions import LaunchVM
from autoscaler.core.disruption.method import NOTHING, Command
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.scan import CandidateNode, Scan
from autoscaler.core.disruption.whatif import try_place, undo, without_nodes


class Rotate:
    name = "rotate"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        if not any(
            c.rotation is not None and c.pool.name not in scan.holds for c in scan.candidates
        ):
            return NOTHING
        states = scan.destinations()
        by_name = {state.name: state for state in states}
        removals: list[Removal] = []
        replacements: list[LaunchVM] = []
        gone: set[str] = set()
        for candidate in scan.candidates:
            if candidate.rotation is None or candidate.pool.name in scan.holds:
                continue
            if candidate.blocked or not scan.within_budget(candidate):
                continue
            name = candidate.node.name
            others = [s for s in states if s.name not in gone and s.name != name]
            placed = try_place(candidate.moved, others, by_name)
            removal = scan.removal(candidate, candidate.rotation.reason, candidate.rotation.detail)
            if (
                placed is not None
                and scan.above_min.get(candidate.pool.name, 0) > 0
                and scan.keeps_pods_placed([*removals, removal])
            ):
                scan.take(candidate)
                gone.add(name)
                removals.append(removal)
                continue
            if placed is not None:
                undo(candidate.moved, placed, by_name)
            # No room (or the pool is at its minimum): replace first, drain once the new
            # node is Ready. The replacement counts against the budget already.
            launches = _replacement(scan, candidate)
            if launches:
                scan.spend_budget(candidate.pool.name)
                replacements.extend(launches)
        method = (removals[0].reason if removals else None) or (
            replacements[0].reason if replacements else None
        )
        if not removals and not replacements:
            return NOTHING
        return Command(method, removals=tuple(removals), replacements=tuple(replacements))


def _replacement(scan: Scan, candidate: CandidateNode) -> list[LaunchVM]:
    """VMs of the node's pool sized for the node's pods, which fit nowhere else."""
    assert candidate.rotation is not None
    after = without_nodes(scan.snapshot, {candidate.node.name}, candidate.moved, scan.now)
    moved_keys = {pod.key for pod in candidate.moved}
    after = dataclasses.replace(
        after,
        pods=tuple(p for p in after.pods if p.node_name is not None or p.key in moved_keys),
    )
    result = scan.plan_scale_up(after, [candidate.pool], scan.lifecycle.unhealthy)
    return [
        dataclasses.replace(
            launch,
            reason=candidate.rotation.reason,
            detail=f"replaces {candidate.node.name}: {candidate.rotation.detail}",
        )
        for launch in result.launches
        if launch.pool == candidate.pool.name
    ]
