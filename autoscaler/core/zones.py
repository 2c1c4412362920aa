"""Zones of bare-metal hosts, and which zones a new node of a pool may be planned in.

A host's ``topology.kubernetes.io/zone`` and ``topology.kubernetes.io/region`` labels (on the
management cluster's Node) say where it is (:attr:`Host.zone`). Every new VM is planned in
one :class:`~autoscaler.core.model.Zone`: the VM is pinned to hosts with that zone's labels,
and its tenant Node registers with the same labels, so that the tenant's scheduler and this
planner's predicates see where it runs. Hosts with neither label form ``NO_ZONE``, which
pins and labels nothing (a platform without zones behaves as before).

How a planner gets "a new node of pool P in zone Z":
:func:`~autoscaler.core.future_node.future_node` with ``zone=Z`` (or
:func:`~autoscaler.core.future_node.future_node_labels` for the labels alone) builds the
node with the pool's template and the zone's labels. The zones worth asking about are
:func:`pool_zones` of :func:`zones_of` the snapshot's hosts, in :func:`by_free_room` order.
A VM sized for such a node carries the zone in ``SizedVM.zone`` and ``LaunchVM.zone``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from autoscaler.api.resources import EMPTY, Resources
from autoscaler.core.model import REGION_LABEL, ZONE_LABEL, Host, Pool, Zone


def zones_of(hosts: Iterable[Host]) -> tuple[Zone, ...]:
    """The distinct zones of the schedulable hosts, sorted by region, then zone."""
    zones = {host.zone for host in hosts if host.schedulable}
    return tuple(sorted(zones, key=lambda z: (z.region, z.name)))


def in_allowed_zones(hosts: Iterable[Host], allowed: Collection[str] | None) -> tuple[Host, ...]:
    """The hosts a tenant restricted to ``allowed`` zone names may use (all when None).

    A host without a zone label is in no allowed zone."""
    if allowed is None:
        return tuple(hosts)
    wanted = set(allowed)
    return tuple(host for host in hosts if host.zone.name in wanted)


def pool_zones(pool: Pool, zones: Iterable[Zone]) -> tuple[Zone, ...]:
    """The zones a node of ``pool`` can be in: a pool whose template sets a zone or region
    label keeps to it (the kubelet would register the Node with the template's value)."""
    wanted_zone = pool.labels.get(ZONE_LABEL)
    wanted_region = pool.labels.get(REGION_LABEL)
    return tuple(
        zone
        for zone in zones
        if (wanted_zone is None or zone.name == wanted_zone)
        and (wanted_region is None or zone.region == wanted_region)
    )


def free_by_zone(hosts: Iterable[Host]) -> dict[Zone, Resources]:
    """The free capacity of the schedulable hosts, summed per zone."""
    free: dict[Zone, Resources] = {}
    for host in hosts:
        if host.schedulable:
            free[host.zone] = free.get(host.zone, EMPTY) + host.free
    return free


def by_free_room(zones: Iterable[Zone], free: Mapping[Zone, Resources]) -> tuple[Zone, ...]:
    """``zones`` with the most free cpu first (then memory, then region and name), so that
    pods without a zone of their own go where hosts have the most room."""
    return tuple(
        sorted(
            zones,
            key=lambda z: (
                -free.get(z, EMPTY).cpu,
                -free.get(z, EMPTY).memory,
                z.region,
                z.name,
            ),
        )
    )
