"""Holds: why a pool must not shrink now, so that the next pass does not launch what this
one removes."""

from __future__ import annotations

from collections.abc import Sequence

from autoscaler.core.config import CoreConfig
from autoscaler.core.future_node import future_node
from autoscaler.core.model import Pod, Pool, Snapshot
from autoscaler.core.shapes import catalog
from autoscaler.core.timers import format_duration


def could_serve(pool: Pool, pod: Pod, snapshot: Snapshot) -> bool:
    """Whether a new VM of the pool, at its largest shape, could host ``pod``."""
    if pool.settings is None:
        return False
    largest = catalog(snapshot.shape_bounds, pool.settings).largest
    if largest is None:
        return False
    template = future_node(f"{pool.name}-template", pool, largest, snapshot.daemonsets)
    return template.fit_failure(pod) is None


def hold_reason(
    pool: Pool,
    *,
    snapshot: Snapshot,
    pending: Sequence[Pod],
    last_launch: float | None,
    now: float,
    config: CoreConfig,
) -> str | None:
    """Why the pool must not shrink now (so the next pass does not launch what this one
    removes), or None when it may.

    ``pending`` are the pending pods that neither an existing node nor a launching VM takes:
    VMs still launching do not hold a pool by themselves, since every removal is checked
    against the next scale-up, which counts their capacity.
    """
    if pool.settings is None:
        return "pool is invalid"
    if not pool.settings.scale_down_enabled:
        return "scale-down is disabled for this pool"
    if last_launch is not None and config.scale_down_cooldown_after_scale_up > 0:
        since = now - last_launch
        if since < config.scale_down_cooldown_after_scale_up:
            wait = config.scale_down_cooldown_after_scale_up - since
            return (
                f"scale-up {format_duration(since)} ago; cooldown ends in {format_duration(wait)}"
            )
    for pod in pending:
        if could_serve(pool, pod, snapshot):
            return f"pending pod {pod.key} could run on this pool"
    return None
