"""One removal, as it travels from candidate to cordon, drain and VM deletion."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.core.actions import Reason
from autoscaler.core.model import Node, Pod


@dataclass(frozen=True, slots=True)
class Removal:
    """A node a method chose for removal, with why and what its drain would move.

    ``reason`` names the method and ``detail`` says why in words; both are carried unchanged
    into the cordon, drain and deletion actions, their log lines and Events.
    """

    node: Node
    pool: str
    reason: Reason
    detail: str
    moved: tuple[Pod, ...]
