"""Empty: nodes that run no workload pods and have been unneeded long enough, unless the
pods of nodes already leaving need their room."""

from __future__ import annotations

from collections.abc import Sequence

from autoscaler.core.actions import Reason
from autoscaler.core.disruption.method import NOTHING, Command
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.scan import Scan


class Empty:
    name = "empty"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        chosen: list[Removal] = []
        is_unneeded = set(unneeded)
        for candidate in scan.candidates:
            if (
                candidate.moved
                or candidate.node.name not in is_unneeded
                or not scan.unneeded_long_enough(candidate)
            ):
                continue
            if not scan.may_take(candidate):
                continue
            removal = scan.removal(candidate, Reason.EMPTY, "node runs no workload pods")
            if scan.keeps_pods_placed([*chosen, removal]):
                scan.take(candidate)
                chosen.append(removal)
        return Command(Reason.EMPTY, removals=tuple(chosen)) if chosen else NOTHING
