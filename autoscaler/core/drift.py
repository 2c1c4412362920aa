"""Drift and expiry: nodes that must be replaced because of what they are, not of their load.

Nodes are immutable: a node whose image is no longer the one its pool asks for, or that has
lived longer than the pool's ``expire-after``, is rotated (replaced and drained), never patched.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.core.actions import Reason
from autoscaler.core.model import Node, Pool
from autoscaler.core.timers import format_duration


@dataclass(frozen=True, slots=True)
class Rotation:
    reason: Reason  # DRIFTED or EXPIRED
    detail: str


def drift(node: Node, pool: Pool) -> Rotation | None:
    """The node runs another image than the pool asks for now (unknown hashes never drift)."""
    have, want = node.image_hash, pool.image_hash
    if not have or not want or have == want:
        return None
    return Rotation(
        Reason.DRIFTED,
        f"node {node.name} runs image {have} but pool {pool.name} asks for {want}",
    )


def expiry(node: Node, pool: Pool, now: float) -> Rotation | None:
    """The node has outlived the pool's ``expire-after``."""
    settings = pool.settings
    if settings is None or settings.expire_after_seconds is None:
        return None
    age = now - node.created
    if age <= settings.expire_after_seconds:
        return None
    return Rotation(
        Reason.EXPIRED,
        f"node {node.name} is {format_duration(age)} old, pool {pool.name} expires nodes "
        f"after {format_duration(settings.expire_after_seconds)}",
    )


def rotation(node: Node, pool: Pool, now: float) -> Rotation | None:
    """Why the node must be replaced, drift before expiry; None when it may stay."""
    return drift(node, pool) or expiry(node, pool, now)
