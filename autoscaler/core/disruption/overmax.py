"""OverMax: a pool above its ``max_nodes`` sheds launching VMs first, then nodes."""

from __future__ import annotations

from collections.abc import Sequence

from autoscaler.core.actions import DeleteVM, Reason
from autoscaler.core.disruption.method import NOTHING, Command
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.scan import Scan


class OverMax:
    """Holds do not stop it: a pool above its max shrinks whatever else is going on."""

    name = "over-max"

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command:
        removals: list[Removal] = []
        deletions: list[DeleteVM] = []
        for name, pool in sorted(scan.pools.items()):
            assert pool.settings is not None
            launching = scan.lifecycle.launching(name)
            # A launching VM whose Node registered already is counted once, as launching.
            registering = {s.node.name for s in launching if s.node is not None}
            members = [
                n
                for n in scan.nodes
                if n.pool == name
                and not n.deleting
                and n.name not in scan.leaving
                and n.name not in registering
            ]
            excess = len(members) + len(launching) - pool.settings.max_nodes
            if excess <= 0:
                continue
            detail = (
                f"pool {name} has {len(members)} node(s) and {len(launching)} launching VM(s), "
                f"above its max of {pool.settings.max_nodes}"
            )
            # VMs that are still launching hold no pods: they go first, newest first.
            for status in sorted(launching, key=lambda s: (-s.vm.created, s.vm.name)):
                if excess <= 0:
                    break
                node = status.node.name if status.node is not None else None
                deletions.append(DeleteVM(status.vm.name, Reason.OVER_MAX, node, detail))
                excess -= 1
            for candidate in scan.candidates:
                if excess <= 0:
                    break
                if (
                    candidate.pool.name != name
                    or not scan.within_budget(candidate)
                    or candidate.blocked
                ):
                    continue
                scan.spend_budget(name)
                removals.append(scan.removal(candidate, Reason.OVER_MAX, detail))
                excess -= 1
        if not removals and not deletions:
            return NOTHING
        return Command(Reason.OVER_MAX, removals=tuple(removals), deletions=tuple(deletions))
