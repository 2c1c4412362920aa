"""What one scale-up plan may still take: room on hosts, the tenant's quota and each pool's room."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from autoscaler.api.policy import Shape, TenantLimits
from autoscaler.api.resources import CPU, MEMORY, Resources
from autoscaler.core.model import (
    NO_ZONE,
    Host,
    VirtualMachine,
    VMPhase,
    Zone,
)
from autoscaler.core.overhead import GI, host_footprint


def _gib(amount: int) -> str:
    return f"{amount / GI:g}Gi"


class PlanBudget:
    """What one plan may still take: room on hosts, the tenant's quota and each pool's room.

    Shared by every pool sized in the plan, so that pools never plan the same capacity.
    """

    def __init__(
        self,
        hosts: Iterable[Host],
        limits: TenantLimits,
        vms: Iterable[VirtualMachine],
        pool_nodes: Mapping[str, int],
    ) -> None:
        usable = sorted((h for h in hosts if h.schedulable), key=lambda h: h.name)
        self._hosts: list[tuple[str, dict[str, int]]] = [(h.name, dict(h.free)) for h in usable]
        self._zone_of: dict[str, Zone] = {h.name: h.zone for h in usable}
        self.limits = limits
        counted = [vm for vm in vms if vm.phase != VMPhase.DELETING]
        self.vms = len(counted)
        self.cpu = sum(vm.shape.cpu for vm in counted)
        self.memory = sum(vm.shape.memory for vm in counted)
        self._pool_nodes = dict(pool_nodes)
        self._cursor: dict[tuple[Shape, Zone | None], int] = {}
        self._free_by_name = dict(self._hosts)

    def hosts_free(self, zone: Zone | None = None) -> list[dict[str, int]]:
        """Free capacity of each host (of ``zone`` only, unless None)."""
        if zone is None:
            return [free for _, free in self._hosts]
        return [free for name, free in self._hosts if self._zone_of[name] == zone]

    def zone_of(self, host: str) -> Zone:
        return self._zone_of.get(host, NO_ZONE)

    def host_free(self) -> dict[str, Resources]:
        return {name: Resources(free) for name, free in self._hosts}

    def pool_nodes(self, pool: str) -> int:
        return self._pool_nodes.get(pool, 0)

    def limit_failure(self, shape: Shape) -> str | None:
        limits = self.limits
        if limits.vms is not None and self.vms + 1 > limits.vms:
            return f"the tenant may have at most {limits.vms} VMs and has {self.vms}"
        if limits.cpu is not None and self.cpu + shape.cpu > limits.cpu:
            return (
                f"a {shape} VM would take the tenant to {(self.cpu + shape.cpu) / 1000:g} vCPUs, "
                f"over its limit of {limits.cpu / 1000:g}"
            )
        if limits.memory is not None and self.memory + shape.memory > limits.memory:
            return (
                f"a {shape} VM would take the tenant to {_gib(self.memory + shape.memory)} "
                f"of memory, over its limit of {_gib(limits.memory)}"
            )
        return None

    def vm_count_reached(self) -> bool:
        return self.limits.vms is not None and self.vms >= self.limits.vms

    def host_for(self, shape: Shape, zone: Zone | None = None) -> str | None:
        """The first host (by name, of ``zone`` unless None) with room for the VM's footprint."""
        footprint = host_footprint(shape)
        cpu, memory = footprint[CPU], footprint[MEMORY]
        # Hosts only fill up during a plan, so the first host that can take a footprint
        # never moves backwards: resume the scan where the same footprint last stopped.
        key = (shape, zone)
        start = self._cursor.get(key, 0)
        hosts, zone_of = self._hosts, self._zone_of
        for index in range(start, len(hosts)):
            name, free = hosts[index]
            if zone is not None and zone_of[name] != zone:
                continue
            if free.get(CPU, 0) >= cpu and free.get(MEMORY, 0) >= memory:
                self._cursor[key] = index
                return name
        self._cursor[key] = len(hosts)
        return None

    def take(self, pool: str, shape: Shape, host: str) -> None:
        free = self._free_by_name[host]
        for resource, amount in host_footprint(shape).items():
            free[resource] = free.get(resource, 0) - amount
        self.vms += 1
        self.cpu += shape.cpu
        self.memory += shape.memory
        self._pool_nodes[pool] = self._pool_nodes.get(pool, 0) + 1
