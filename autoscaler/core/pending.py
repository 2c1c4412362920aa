"""Which pods the autoscaler tries to make room for."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from autoscaler.core.model import DEFAULT_SCHEDULER, Pod, PodPhase

DEFAULT_SCHEDULERS: Final = frozenset({DEFAULT_SCHEDULER})


def is_pending(pod: Pod, schedulers: frozenset[str] = DEFAULT_SCHEDULERS) -> bool:
    """A pod that a scheduler we simulate tried and found no node for.

    Gated, terminating, bound and DaemonSet pods are left alone: more nodes would not help
    them (a DaemonSet pod belongs to one specific node).
    """
    return (
        pod.unschedulable
        and pod.phase == PodPhase.PENDING
        and not pod.terminating
        and not pod.scheduling_gated
        and not pod.node_name
        and pod.scheduler_name in schedulers
        and not pod.is_daemonset_pod
    )


def pending_pods(pods: Iterable[Pod], schedulers: frozenset[str] = DEFAULT_SCHEDULERS) -> list[Pod]:
    """The pending pods among ``pods``, in their given order."""
    return [pod for pod in pods if is_pending(pod, schedulers)]
