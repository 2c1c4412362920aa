"""Prometheus metrics (prefix ``kvpool_``) in a registry of their own, so tests stay isolated."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from autoscaler import __version__

# A VM takes minutes from launch to a Ready node; the buckets cover seconds to half an hour.
_LATENCY_BUCKETS = (5, 10, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1200, 1800)
_DECISION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric of the autoscaler; pass ``registry`` to share one, else a fresh one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.pending_pods = Gauge(
            "kvpool_pending_pods",
            "Unschedulable pods waiting for capacity, by the pool that would host them.",
            ["tenant", "pool"],
            registry=r,
        )
        self.nodes = Gauge(
            "kvpool_nodes",
            "Worker nodes and VMs by state (launching, ready, notready, draining, deleting).",
            ["tenant", "pool", "state"],
            registry=r,
        )
        self.vm_launches = Counter(
            "kvpool_vm_launches",
            "VirtualMachines launched, by reason and result.",
            ["tenant", "pool", "reason", "result"],
            registry=r,
        )
        self.vm_deletions = Counter(
            "kvpool_vm_deletions",
            "VirtualMachines deleted, by reason and result.",
            ["tenant", "pool", "reason", "result"],
            registry=r,
        )
        self.decision_duration = Histogram(
            "kvpool_decision_duration_seconds",
            "Time to compute one plan for one tenant.",
            ["tenant"],
            buckets=_DECISION_BUCKETS,
            registry=r,
        )
        self.scale_up_latency = Histogram(
            "kvpool_scale_up_latency_seconds",
            "From a pod marked unschedulable to the Ready node launched for it.",
            ["tenant", "pool"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.pod_pending_duration = Histogram(
            "kvpool_pod_pending_duration_seconds",
            "How long unschedulable pods waited before they were scheduled.",
            ["tenant"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.boot_phase_duration = Histogram(
            "kvpool_boot_phase_duration_seconds",
            "Time a VM spent in each phase on its way to a Ready node.",
            ["phase"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tenant_connected = Gauge(
            "kvpool_tenant_connected",
            "1 when the tenant's API server is reachable and its caches are synced.",
            ["tenant"],
            registry=r,
        )
        self.api_errors = Counter(
            "kvpool_api_errors",
            "Failed Kubernetes API calls by cluster, verb and HTTP status (or transport error).",
            ["cluster", "verb", "code"],
            registry=r,
        )
        self.pool_at_max = Gauge(
            "kvpool_pool_at_max",
            "1 while a pool has pods it could serve but is held at its max-nodes.",
            ["tenant", "pool"],
            registry=r,
        )
        self.leader = Gauge(
            "kvpool_leader", "1 while this replica holds the leader Lease.", registry=r
        )
        self.build_info = Info("kvpool_build", "Version of the running autoscaler.", registry=r)
        self.build_info.info({"version": __version__, "python": platform.python_version()})
        # Label sets each per-tenant gauge shows, so stale ones can be removed.
        self._shown: dict[tuple[int, str], set[tuple[str, ...]]] = {}

    # Helpers for the call sites -------------------------------------------------------------
    def api_error(self, cluster: str, verb: str, code: str) -> None:
        """Fits ``autoscaler.kube.errors.add_api_error_hook``."""
        self.api_errors.labels(cluster=cluster, verb=verb, code=code).inc()

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def set_pending_pods(self, tenant: str, by_pool: Mapping[str, int]) -> None:
        """Replace the tenant's pending-pod gauges; pools no longer given are removed."""
        self._replace(self.pending_pods, tenant, {(pool,): n for pool, n in by_pool.items()})

    def set_nodes(self, tenant: str, by_pool_and_state: Mapping[tuple[str, str], int]) -> None:
        """Replace the tenant's node gauges; combinations no longer given are removed."""
        self._replace(self.nodes, tenant, {tuple(k): v for k, v in by_pool_and_state.items()})

    def set_pools_at_max(self, tenant: str, pools: Iterable[str], all_pools: Iterable[str]) -> None:
        """Replace the tenant's at-max gauges: 1 for ``pools``, 0 for the other pools."""
        at_max = set(pools)
        self._replace(self.pool_at_max, tenant, {(p,): int(p in at_max) for p in all_pools})

    def set_connected(self, tenant: str, connected: bool) -> None:
        self._replace(self.tenant_connected, tenant, {(): 1 if connected else 0})

    def forget_tenant(self, tenant: str) -> None:
        """Remove every per-tenant gauge of a tenant that is no longer managed."""
        for gauge in (self.pending_pods, self.nodes, self.pool_at_max, self.tenant_connected):
            self._replace(gauge, tenant, {})

    def _replace(self, gauge: Gauge, tenant: str, values: Mapping[tuple[str, ...], float]) -> None:
        shown = self._shown.setdefault((id(gauge), tenant), set())
        for rest in shown - set(values):
            gauge.remove(tenant, *rest)
        for rest, value in values.items():
            gauge.labels(tenant, *rest).set(value)
        shown.clear()
        shown.update(values)
