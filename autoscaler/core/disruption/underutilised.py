"""Underutilised: nodes below the pool's utilisation threshold whose pods fit on the others,
once they have been unneeded long enough."""

from __future__ import annotations

from collections.abc import Sequence

from autoscaler.core.actions import Reason
from autoscaler.core.disruption.method import NOTHING, Command
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.scan import Scan


class Underutilised:
    name = "underutilised"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        chosen: list[Removal] = []
        by_node = {c.node.name: c for c in scan.candidates}
        for name in unneeded:
            candidate = by_node[name]
            if (
                not candidate.moved
                or not scan.unneeded_long_enough(candidate)
                or not scan.may_take(candidate)
            ):
                continue
            assert candidate.pool.settings is not None
            removal = scan.removal(
                candidate,
                Reason.UNDERUTILIZED,
                f"node is {candidate.utilization:.0%} utilised (threshold "
                f"{candidate.pool.settings.scale_down_utilization_threshold:.0%}) and its "
                f"{len(candidate.moved)} pod(s) fit on other nodes",
            )
            if scan.keeps_pods_placed([*chosen, removal]):
                scan.take(candidate)
                chosen.append(removal)
        return Command(Reason.UNDERUTILIZED, removals=tuple(chosen)) if chosen else NOTHING
