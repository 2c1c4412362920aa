"""kube-scheduler's "0/N nodes are available: ..." message, from the reason each node gave."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

NO_NODES = "no nodes available to schedule pods"


def split_reason(reason: str) -> list[str]:
    """The core's combined ``Insufficient cpu, Insufficient memory`` counts once per resource,
    as the scheduler's NodeResourcesFit plugin reports each one."""
    if reason.startswith("Insufficient "):
        return [part.strip() for part in reason.split(",") if part.strip()]
    return [reason]


def unschedulable_message(total_nodes: int, reasons: Iterable[str]) -> str:
    """``0/3 nodes are available: 1 Insufficient cpu, 2 node(s) were unschedulable.``

    Counts are per reason and sorted by the reason text, like the scheduler's FitError.
    """
    if total_nodes == 0:
        return NO_NODES
    counts: Counter[str] = Counter()
    for reason in reasons:
        counts.update(split_reason(reason))
    parts = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.items()))
    return f"0/{total_nodes} nodes are available: {parts}."
