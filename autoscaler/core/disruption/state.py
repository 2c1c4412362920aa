"""What scale-down remembers between passes."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.core.timers import FirstSeen


@dataclass(frozen=True, slots=True)
class Replacement:
    """A cheaper VM launched for the pods of ``nodes``, which are drained once it is up."""

    nodes: tuple[str, ...]
    started: float


@dataclass(slots=True)
class DisruptionState:
    # Node -> when it was first seen unneeded, while it stays so.
    unneeded_since: FirstSeen = field(default_factory=FirstSeen)
    # Pool -> the replacement launched for some of its nodes, until they are drained.
    replacing: dict[str, Replacement] = field(default_factory=dict)
    # Pool -> when consolidation last looked for nodes to replace.
    consolidation_checked: dict[str, float] = field(default_factory=dict)
