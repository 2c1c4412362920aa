"""Status of the TenantCluster (management) and of each NodePool (tenant), from one pass."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler.api.models import GROUP, VERSION
from autoscaler.api.resources import CPU, MEMORY, to_quantity
from autoscaler.api.timestamps import rfc3339
from autoscaler.core.config import disrupting_taint_of
from autoscaler.core.lifecycle import LAUNCHING_PHASES, launch_phase, node_of
from autoscaler.core.model import Pool, Snapshot, VMPhase
from autoscaler.kube.status import Condition, CustomResource

TENANTCLUSTERS = "tenantclusters"
NODEPOOLS = "nodepools"

CONNECTED = "Connected"
VALID = "Valid"
READY = "Ready"


def tenant_cluster_resource(name: str, namespace: str) -> CustomResource:
    return CustomResource(GROUP, VERSION, TENANTCLUSTERS, name, namespace)


def nodepool_resource(name: str) -> CustomResource:
    return CustomResource(GROUP, VERSION, NODEPOOLS, name)


def connected_condition(problem: str | None, reason: str = "Unreachable") -> Condition:
    if problem is None:
        return Condition(CONNECTED, True, "Connected", "the tenant API server is reachable")
    return Condition(CONNECTED, False, reason, problem)


@dataclass(frozen=True, slots=True)
class PoolCounts:
    nodes: int = 0
    launching: int = 0
    draining: int = 0


def pool_counts(snapshot: Snapshot, draining: Collection[str]) -> dict[str, PoolCounts]:
    """Registered nodes, launching VMs and nodes being drained, per pool."""
    nodes = {node.name: node for node in snapshot.nodes}
    registered: dict[str, int] = {}
    launching: dict[str, int] = {}
    drained: dict[str, int] = {}
    for node in snapshot.nodes:
        pool = node.pool
        if pool is None or node.deleting:
            continue
        registered[pool] = registered.get(pool, 0) + 1
        if node.name in draining or disrupting_taint_of(node) is not None:
            drained[pool] = drained.get(pool, 0) + 1
    for vm in snapshot.vms:
        if vm.phase in (VMPhase.DELETING, VMPhase.FAILED):
            continue
        if launch_phase(vm, node_of(vm, nodes)) in LAUNCHING_PHASES:
            launching[vm.pool] = launching.get(vm.pool, 0) + 1
    return {
        pool.name: PoolCounts(
            registered.get(pool.name, 0), launching.get(pool.name, 0), drained.get(pool.name, 0)
        )
        for pool in snapshot.pools
    }


def nodepool_status(
    pool: Pool,
    counts: PoolCounts,
    message: str | None,
    last_scale_up: float | None,
    last_scale_down: float | None,
) -> tuple[Condition, dict[str, Any]]:
    if pool.settings is None:
        condition = Condition(READY, False, "InvalidAnnotations", pool.error or "invalid settings")
    else:
        condition = Condition(READY, True, "Valid", message or "the pool is autoscaled")
    fields: dict[str, Any] = {
        "nodes": counts.nodes,
        "launching": counts.launching,
        "draining": counts.draining,
    }
    if last_scale_up is not None:
        fields["lastScaleUp"] = rfc3339(last_scale_up)
    if last_scale_down is not None:
        fields["lastScaleDown"] = rfc3339(last_scale_down)
    return condition, fields


def tenant_status_fields(
    snapshot: Snapshot,
    counts: Mapping[str, PoolCounts],
    messages: Mapping[str, str],
    generation: int | None,
) -> dict[str, Any]:
    cpu = memory = vms = 0
    for vm in snapshot.vms:
        if vm.phase is VMPhase.DELETING:
            continue
        vms += 1
        cpu += vm.shape.cpu
        memory += vm.shape.memory
    pools = []
    for pool in snapshot.pools:
        count = counts.get(pool.name, PoolCounts())
        summary: dict[str, Any] = {
            "name": pool.name,
            "nodes": count.nodes,
            "launching": count.launching,
            "draining": count.draining,
            "enabled": pool.settings is not None,
        }
        message = pool.error if pool.settings is None else messages.get(pool.name)
        if message:
            summary["message"] = message
        pools.append(summary)
    fields: dict[str, Any] = {
        "connected": True,
        "usage": {"vms": vms, "cpu": to_quantity(CPU, cpu), "memory": to_quantity(MEMORY, memory)},
        "pools": pools,
    }
    if generation is not None:
        fields["observedGeneration"] = generation
    return fields
