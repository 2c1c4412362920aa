"""The protocol every disruption method follows, and what a method proposes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from autoscaler.core.actions import DeleteVM, LaunchVM, Reason
from autoscaler.core.disruption.removal import Removal

if TYPE_CHECKING:
    from autoscaler.core.disruption.scan import Scan


@dataclass(frozen=True, slots=True)
class Command:
    """What one pass of scale-down does."""

    method: Reason | None  # the method that acts this pass, if any
    removals: tuple[Removal, ...] = ()  # nodes to cordon and drain (after validation)
    replacements: tuple[LaunchVM, ...] = ()  # VMs for nodes whose pods need room first
    deletions: tuple[DeleteVM, ...] = ()  # launching VMs of pools above their max
    unneeded: tuple[str, ...] = ()  # nodes unneeded now, whether or not their time has come

    @property
    def acts(self) -> bool:
        return bool(self.removals or self.replacements or self.deletions)


NOTHING: Command = Command(None)


class Method(Protocol):
    """A way to disrupt nodes. ``propose`` looks at one pass's scan and returns what it would
    do (taking from the pass's budgets what it uses), or :data:`NOTHING`."""

    name: str

    def propose(self, scan: Scan, unneeded: Sequence[str]) -> Command: ...
