"""What one pass shows in metrics: pending pods per pool, nodes per pool and state, pools at max."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from autoscaler.core.actions import Explanation, Verdict
from autoscaler.core.lifecycle import node_of
from autoscaler.core.model import Snapshot, VMPhase
from autoscaler.observability.metrics import Metrics

NO_POOL = "none"


def pending_by_pool(explanations: Iterable[Explanation]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for explanation in explanations:
        counts[explanation.pool or NO_POOL] += explanation.pods
    return dict(counts)


def pools_at_max(explanations: Iterable[Explanation]) -> set[str]:
    return {e.pool for e in explanations if e.verdict is Verdict.POOL_AT_MAX and e.pool}


def node_states(snapshot: Snapshot, draining: Collection[str]) -> dict[tuple[str, str], int]:
    """Worker VMs by (pool, state): launching, ready, notready, draining, deleting, failed."""
    nodes = {node.name: node for node in snapshot.nodes}
    counts: Counter[tuple[str, str]] = Counter()
    for vm in snapshot.vms:
        node = node_of(vm, nodes)
        if vm.phase is VMPhase.DELETING:
            state = "deleting"
        elif vm.phase is VMPhase.FAILED:
            state = "failed"
        elif node is None:
            state = "launching"
        elif node.name in draining:
            state = "draining"
        else:
            state = "ready" if node.ready else "notready"
        counts[(vm.pool, state)] += 1
    return dict(counts)


class PassMetrics:
    """Publishes one tenant's per-pass gauges; pools no longer shown are removed."""

    def __init__(self, metrics: Metrics, tenant: str) -> None:
        self._metrics = metrics
        self._tenant = tenant

    def publish(
        self,
        snapshot: Snapshot,
        explanations: Iterable[Explanation],
        draining: Collection[str],
    ) -> None:
        explained = list(explanations)
        metrics, tenant = self._metrics, self._tenant
        metrics.set_pending_pods(tenant, pending_by_pool(explained))
        metrics.set_nodes(tenant, node_states(snapshot, draining))
        metrics.set_pools_at_max(
            tenant, pools_at_max(explained), [pool.name for pool in snapshot.pools]
        )

    def forget(self) -> None:
        self._metrics.forget_tenant(self._tenant)
