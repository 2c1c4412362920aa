"""PodDisruptionBudgets and the Eviction API, and the count of budgets broken by disruptions.

An eviction is refused while the pod's budget allows no disruption, exactly as the API server
answers 429; pods that are not healthy (not running yet) can always be evicted. A node deleted
with pods still on it kills them: if that takes a budget's healthy pods below what it requires,
it is a violation (the autoscaler must never cause one). Pods of a node that went down stop
being healthy at once, so their later removal is no violation.
"""

from __future__ import annotations

from autoscaler.core.model import Pod, PodDisruptionBudget, PodPhase
from autoscaler.sim.workloads import Workloads, desired_healthy
from autoscaler.sim.world import SimWorld

REFUSED = "Cannot evict pod as it would violate the pod's disruption budget."


def is_healthy(pod: Pod) -> bool:
    return pod.phase is PodPhase.RUNNING and not pod.terminating


class Disruptions:
    def __init__(self, world: SimWorld, workloads: Workloads) -> None:
        self._world = world
        self._workloads = workloads
        self.violations = 0
        self.evictions = 0
        self.refused = 0
        self.killed = 0
        self._healthy: dict[str, int] = {}  # by owner, kept up to date from pod events
        world.start_listeners.append(self._started)
        world.stop_listeners.append(self._stopped)
        world.pod_listeners.append(self._gone)

    def _started(self, pod: Pod) -> None:
        owner = self._owner(pod)
        if owner is not None and is_healthy(pod):
            self._healthy[owner] = self._healthy.get(owner, 0) + 1

    def _gone(self, pod: Pod, why: str) -> None:
        self._stopped(pod)

    def _stopped(self, pod: Pod) -> None:
        owner = self._owner(pod)
        if owner is not None and is_healthy(pod):
            self._healthy[owner] -= 1

    def _owner(self, pod: Pod) -> str | None:
        if pod.owner_kind != "ReplicaSet" or pod.owner_name is None:
            return None
        return pod.owner_name if self._workloads.budget(pod.owner_name) else None

    def _required(self, owner: str) -> int:
        budget = self._workloads.budget(owner)
        assert budget is not None
        return desired_healthy(budget, self._workloads.expected(owner))

    def healthy(self, owner: str) -> int:
        return self._healthy.get(owner, 0)

    def allowed(self, owner: str) -> int:
        return max(0, self.healthy(owner) - self._required(owner))

    def models(self) -> tuple[PodDisruptionBudget, ...]:
        return tuple(
            self._workloads.pdb_model(owner, self.allowed(owner))
            for owner in self._workloads.budgeted_owners()
        )

    def evict(self, key: str) -> str | None:
        """The Eviction API: None when the pod is gone (or was already), else why it stays."""
        pod = self._world.pods.get(key)
        if pod is None:
            return None
        owner = self._owner(pod)
        if owner is not None and is_healthy(pod) and self.allowed(owner) <= 0:
            self.refused += 1
            return REFUSED
        self.evictions += 1
        self._remove(pod, owner, "evicted")
        return None

    def kill(self, key: str) -> None:
        """The pod dies with its node (not through the Eviction API)."""
        pod = self._world.pods.get(key)
        if pod is None:
            return
        self.killed += 1
        self._remove(pod, self._owner(pod), "killed")

    def _remove(self, pod: Pod, owner: str | None, why: str) -> None:
        was_healthy = is_healthy(pod)
        # The budget as it stood when the pod went: the removal may make its Deployment
        # catch up with a schedule that has since grown, which raises the requirement later.
        required = self._required(owner) if owner is not None else 0
        self._world.remove_pod(pod.key, why)
        if owner is not None and was_healthy and self.healthy(owner) < required:
            self.violations += 1
