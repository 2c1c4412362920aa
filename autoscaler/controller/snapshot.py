"""The frozen Snapshot one decision of one tenant sees, built from its synced caches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from autoscaler.api.models import TenantCluster
from autoscaler.core.model import (
    DaemonSet,
    Host,
    Namespace,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    Pool,
    Snapshot,
    StorageClass,
    VirtualMachine,
)
from autoscaler.core.pools import pool_from_object
from autoscaler.core.zones import in_allowed_zones


def pools_of(nodepools: Iterable[Mapping[str, Any]], tenant: TenantCluster) -> tuple[Pool, ...]:
    """Every NodePool as a Pool, sorted by name; an invalid one is disabled with its error."""
    return tuple(sorted((pool_from_object(obj, tenant) for obj in nodepools), key=_name))


def _name(pool: Pool) -> str:
    return pool.name


def with_node_names(
    vms: Iterable[VirtualMachine], nodes: Iterable[Node]
) -> tuple[VirtualMachine, ...]:
    """VMs with ``node_name`` set where a Node registered under the VM's name."""
    names = {node.name for node in nodes}
    return tuple(
        replace(vm, node_name=vm.name) if vm.node_name is None and vm.name in names else vm
        for vm in vms
    )


def build_snapshot(
    tenant: TenantCluster,
    *,
    pods: Sequence[Pod],
    nodes: Sequence[Node],
    pools: Sequence[Pool],
    vms: Iterable[VirtualMachine],
    hosts: Sequence[Host],
    daemonsets: Sequence[DaemonSet] = (),
    pdbs: Sequence[PodDisruptionBudget] = (),
    claims: Sequence[PersistentVolumeClaim] = (),
    volumes: Sequence[PersistentVolume] = (),
    storage_classes: Sequence[StorageClass] = (),
    namespaces: Iterable[Namespace] = (),
) -> Snapshot:
    return Snapshot(
        tenant=tenant.metadata.name,
        pods=tuple(pods),
        nodes=tuple(nodes),
        vms=with_node_names(vms, nodes),
        pools=tuple(pools),
        hosts=in_allowed_zones(hosts, tenant.spec.zones),
        shape_bounds=tenant.shape_bounds(),
        limits=tenant.tenant_limits(),
        daemonsets=tuple(daemonsets),
        pdbs=tuple(pdbs),
        claims=tuple(claims),
        volumes=tuple(volumes),
        storage_classes=tuple(storage_classes),
        namespace_labels={ns.name: ns.labels for ns in namespaces},
    )
