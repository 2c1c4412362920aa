"""Which pods a drain moves, and which pods keep a node from being scaled down.

The rules follow cluster-autoscaler's drainability checks and Karpenter's do-not-disrupt:
DaemonSet pods, static (mirror) pods and terminal pods stay and never block; a pod that is
already terminating is leaving on its own; every other pod is evicted, and it blocks the
drain when evicting it would lose work or break a promise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from autoscaler.core.model import (
    DO_NOT_DISRUPT_ANNOTATION,
    Pod,
    PodDisruptionBudget,
    PodPhase,
)
from autoscaler.core.predicates import label_selector_matches

_TERMINAL = (PodPhase.SUCCEEDED, PodPhase.FAILED)
_STAYING_OWNERS = ("DaemonSet", "Node")  # "Node" owns the mirror pods of static pods


@dataclass(frozen=True, slots=True)
class Blocker:
    """One pod that keeps its node from being drained, and why."""

    pod: str  # namespace/name
    reason: str
    # A PodDisruptionBudget with no disruptions allowed blocks only for now: it frees up
    # as soon as the pods it guards are healthy again.
    momentary: bool = False

    def __str__(self) -> str:
        return f"pod {self.pod} {self.reason}"


def is_terminal(pod: Pod) -> bool:
    return pod.phase in _TERMINAL


def stays_on_node(pod: Pod) -> bool:
    """Pods a drain leaves alone: DaemonSet and static pods, and pods that have finished."""
    return pod.owner_kind in _STAYING_OWNERS or is_terminal(pod)


def must_move(pod: Pod) -> bool:
    """Pods a drain evicts and the scheduler must place elsewhere."""
    return not stays_on_node(pod) and not pod.terminating


def still_draining(pod: Pod) -> bool:
    """Pods whose presence means a drain has not finished (terminating ones included)."""
    return not stays_on_node(pod)


def movable_pods(pods: Iterable[Pod]) -> list[Pod]:
    return [pod for pod in pods if must_move(pod)]


def pdb_guards(pdb: PodDisruptionBudget, pod: Pod) -> bool:
    """Whether ``pdb`` selects ``pod`` (same namespace, matching label selector)."""
    return pdb.namespace == pod.namespace and label_selector_matches(pdb.selector, pod.labels)


def pod_blocker(pod: Pod, pdbs: Sequence[PodDisruptionBudget] = ()) -> Blocker | None:
    """Why evicting ``pod`` is not allowed, or None when it may be evicted (or stays)."""
    if not must_move(pod):
        return None
    key = pod.key
    if pod.unmodelled:
        # What cannot be read cannot be judged: the pod may need its node in ways not seen.
        fields = ", ".join(entry.split(": ", 1)[0] for entry in pod.unmodelled[:3])
        return Blocker(key, f"has fields the autoscaler cannot read ({fields})")
    if pod.do_not_disrupt:
        return Blocker(key, f"has the {DO_NOT_DISRUPT_ANNOTATION} annotation")
    if pod.safe_to_evict is False:
        return Blocker(key, "is annotated safe-to-evict=false")
    # An explicit safe-to-evict=true overrides the checks that guess at lost work.
    if pod.safe_to_evict is not True:
        if pod.owner_kind is None:
            return Blocker(key, "is not managed by a controller and would not be recreated")
        if pod.local_storage:
            return Blocker(key, "has local storage (emptyDir or hostPath) that would be lost")
    for pdb in pdbs:
        if pdb.disruptions_allowed <= 0 and pdb_guards(pdb, pod):
            return Blocker(
                key,
                f"is guarded by PodDisruptionBudget {pdb.namespace}/{pdb.name}, "
                "which allows no disruption now",
                momentary=True,
            )
    return None


def node_blockers(pods: Iterable[Pod], pdbs: Sequence[PodDisruptionBudget] = ()) -> list[Blocker]:
    """Every pod among ``pods`` (those on one node) that blocks its drain, in the given order."""
    blockers: list[Blocker] = []
    for pod in pods:
        blocker = pod_blocker(pod, pdbs)
        if blocker is not None:
            blockers.append(blocker)
    return blockers
