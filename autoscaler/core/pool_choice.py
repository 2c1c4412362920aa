"""Which NodePools, and which zones of them, may host a class of pending pods, best first."""

from __future__ import annotations

from collections.abc import Sequence
from math import ceil

from autoscaler.api.resources import CPU, MEMORY, Resources
from autoscaler.core.cost import vcpu_equivalents
from autoscaler.core.future_node import future_node, pool_daemonset_overhead
from autoscaler.core.model import (
    NO_ZONE,
    REGION_LABEL,
    ZONE_LABEL,
    Pod,
    Pool,
    Snapshot,
    Zone,
)
from autoscaler.core.overhead import kubelet_reserved, node_allocatable
from autoscaler.core.shapes import catalog
from autoscaler.core.zones import by_free_room, free_by_zone, pool_zones, zones_of


def _names_a_zone(pod: Pod) -> bool:
    """Whether the pod's nodeSelector or required node affinity asks for a zone or region."""
    keys = (ZONE_LABEL, REGION_LABEL)
    if any(key in pod.node_selector for key in keys):
        return True
    return any(r.key in keys for t in pod.required_node_affinity for r in t.match_expressions)


def _implied_zone(pool: Pool) -> Zone:
    """The zone a pool's template labels name, for a pool no host's zone matches."""
    return Zone(pool.labels.get(ZONE_LABEL, ""), pool.labels.get(REGION_LABEL, ""))


class PoolChooser:
    """Which pools, and which zones of them, admit a class of pods, best first."""

    def __init__(self, pools: Sequence[Pool], snapshot: Snapshot) -> None:
        self.pools = sorted(
            (p for p in pools if p.settings is not None),
            key=lambda p: (-p.settings.weight if p.settings else 0, p.name),
        )
        zones = by_free_room(zones_of(snapshot.hosts), free_by_zone(snapshot.hosts)) or (NO_ZONE,)
        named = sorted(str(zone) for zone in zones if zone != NO_ZONE)
        self.zone_note = (
            f"bare-metal hosts are in zone(s) {', '.join(named)}"
            if named
            else "no bare-metal host has zone or region labels"
        )
        self.zones = {p.name: pool_zones(p, zones) or (_implied_zone(p),) for p in self.pools}
        self.overhead = {
            (p.name, zone): pool_daemonset_overhead(p, snapshot.daemonsets, zone)
            for p in self.pools
            for zone in self.zones[p.name]
        }
        self.templates = {
            (p.name, zone): future_node(
                f"{p.name}-template", p, Resources(), snapshot.daemonsets, zone=zone
            )
            for p in self.pools
            for zone in self.zones[p.name]
        }
        self.capacity: dict[str, tuple[Resources, Resources]] = {}
        for pool in self.pools:
            assert pool.settings is not None
            largest = catalog(snapshot.shape_bounds, pool.settings).largest
            if largest is not None:
                overhead = self.overhead[pool.name, self.zones[pool.name][0]]
                per_vm = kubelet_reserved(largest) + overhead
                room = node_allocatable(largest) - overhead
                self.capacity[pool.name] = (room, per_vm)

    def admitting(self, pod: Pod) -> tuple[dict[str, list[Zone]], list[str]]:
        """The zones of each pool whose nodes admit ``pod`` (pools that admit it in no zone
        are left out), and why each other pool refuses it."""
        admitted: dict[str, list[Zone]] = {}
        refusals = []
        for pool in self.pools:
            first_reason = None
            for zone in self.zones[pool.name]:
                reason = self.templates[pool.name, zone].static_failure(pod)
                if reason is None:
                    admitted.setdefault(pool.name, []).append(zone)
                elif first_reason is None:
                    first_reason = reason
            if pool.name not in admitted:
                note = f" ({self.zone_note})" if _names_a_zone(pod) else ""
                refusals.append(f"{pool.name}: {first_reason}{note}")
        return admitted, refusals

    def new_resources(self, pool: Pool, pods: Sequence[Pod]) -> float:
        """About how much a pool would provision for these pods, in vCPU-equivalents
        (4Gi weigh as one vCPU)."""
        if pool.name not in self.capacity or not pods:
            return float("inf")
        room, per_vm = self.capacity[pool.name]
        vector = pods[0].requests
        vms = 1
        for name, amount in vector.items():
            if amount > 0:
                if room[name] <= 0:
                    return float("inf")
                vms = max(vms, ceil(amount * len(pods) / room[name]))
        total = vector * len(pods) + per_vm * vms
        return vcpu_equivalents(total[CPU], total[MEMORY])

    def ranked(self, pods: Sequence[Pod], admitted: list[Pool]) -> list[Pool]:
        if len(admitted) <= 1:
            return admitted

        def rank(pool: Pool) -> tuple[int, float, str]:
            weight = pool.settings.weight if pool.settings else 0
            return (-weight, self.new_resources(pool, pods), pool.name)

        return sorted(admitted, key=rank)
