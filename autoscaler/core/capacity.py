"""One ledger of bare-metal host capacity shared by every tenant's decisions.

Each tenant plans against a *view* of the hosts: what the provider last observed as free, minus
the capacity reserved for VMs that other tenants are launching and the provider does not show
yet. When the tenants together want more than is free, the free capacity is divided in
proportion to their weights by weighted max-min fairness (water-filling), and each tenant's view
is carved from the hosts so that two tenants never plan the same free capacity. A tenant with
any demand always gets a share, so none is starved.

Pure and synchronous: the controller calls ``view`` and ``reserve`` for one tenant without
yielding in between, which makes plan-then-reserve atomic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from autoscaler.api.resources import CPU, EMPTY, MEMORY, Resources
from autoscaler.core.model import Host

_SHARED = (CPU, MEMORY)


@dataclass(frozen=True, slots=True)
class Reservation:
    tenant: str
    vm: str
    host: str
    footprint: Resources
    expires: float


@dataclass(frozen=True, slots=True)
class Demand:
    weight: int
    wanted: Resources  # host footprint the tenant would like to add now


class HostCapacityLedger:
    def __init__(self, reservation_ttl_seconds: float = 600.0) -> None:
        self._ttl = reservation_ttl_seconds
        self._hosts: dict[str, Host] = {}
        self._reservations: dict[str, Reservation] = {}
        self._demand: dict[str, Demand] = {}

    # Inputs -----------------------------------------------------------------------------
    def observe(self, hosts: Iterable[Host], placed_vms: Iterable[str], now: float) -> None:
        """Record hosts as the provider sees them; VMs it shows placed no longer need a
        reservation (their capacity is in ``Host.allocated`` now)."""
        self._hosts = {host.name: host for host in hosts}
        for vm in placed_vms:
            self._reservations.pop(vm, None)
        self._expire(now)

    def set_demand(self, tenant: str, weight: int, wanted: Resources) -> None:
        if wanted.cpu <= 0 and wanted.memory <= 0:
            self._demand.pop(tenant, None)
        else:
            self._demand[tenant] = Demand(max(1, weight), wanted)

    def forget_tenant(self, tenant: str) -> None:
        self._demand.pop(tenant, None)
        for vm in [r.vm for r in self._reservations.values() if r.tenant == tenant]:
            del self._reservations[vm]

    def reserve(
        self, tenant: str, vm: str, host: str, footprint: Resources, now: float
    ) -> Reservation:
        reservation = Reservation(tenant, vm, host, footprint, now + self._ttl)
        self._reservations[vm] = reservation
        return reservation

    def release(self, vm: str) -> None:
        self._reservations.pop(vm, None)

    # Outputs ----------------------------------------------------------------------------
    @property
    def reservations(self) -> Mapping[str, Reservation]:
        return dict(self._reservations)

    def free_hosts(self, now: float) -> tuple[Host, ...]:
        """Every host with all reservations counted as allocated."""
        self._expire(now)
        reserved: dict[str, Resources] = {}
        for r in self._reservations.values():
            reserved[r.host] = reserved.get(r.host, EMPTY) + r.footprint
        return tuple(
            replace(host, allocated=host.allocated + reserved.get(host.name, EMPTY))
            for host in sorted(self._hosts.values(), key=lambda h: h.name)
        )

    def view(self, tenant: str, now: float) -> tuple[Host, ...]:
        """The hosts as ``tenant`` may plan on them now."""
        hosts = self.free_hosts(now)
        total_free = _sum(h.free for h in hosts if h.schedulable)
        demands = self._demand
        wanted_total = _sum(d.wanted for d in demands.values())
        if tenant not in demands or all(wanted_total[r] <= total_free[r] for r in _SHARED):
            return hosts
        shares = fair_shares(
            {name: (d.weight, d.wanted) for name, d in demands.items()}, total_free
        )
        return _carve(hosts, shares, tenant)

    def _expire(self, now: float) -> None:
        for vm in [r.vm for r in self._reservations.values() if r.expires <= now]:
            del self._reservations[vm]


def fair_shares(
    demands: Mapping[str, tuple[int, Resources]], capacity: Resources
) -> dict[str, Resources]:
    """Weighted max-min fair division of ``capacity`` (per resource, independently).

    Tenants wanting less than their weighted share get all they want; what they leave is divided
    again among the others by weight, until nothing is left or everyone is satisfied.
    """
    shares: dict[str, dict[str, int]] = {name: {} for name in demands}
    for resource in _SHARED:
        remaining = capacity[resource]
        unsatisfied = {name for name, (_, wanted) in demands.items() if wanted[resource] > 0}
        for name in demands:
            shares[name][resource] = 0
        while unsatisfied and remaining > 0:
            total_weight = sum(demands[name][0] for name in unsatisfied)
            quantum = {
                name: Fraction(remaining * demands[name][0], total_weight) for name in unsatisfied
            }
            satisfied = {
                name
                for name in unsatisfied
                if demands[name][1][resource] - shares[name][resource] <= quantum[name]
            }
            if not satisfied:
                for name in sorted(unsatisfied):
                    shares[name][resource] += int(quantum[name])
                break
            for name in sorted(satisfied):
                need = demands[name][1][resource] - shares[name][resource]
                shares[name][resource] += need
                remaining -= need
            unsatisfied -= satisfied
    return {name: Resources(amounts) for name, amounts in shares.items()}


def _carve(hosts: Sequence[Host], shares: Mapping[str, Resources], tenant: str) -> tuple[Host, ...]:
    """Give each tenant (in name order) slices of host free capacity up to its share, and
    return ``tenant``'s slices as hosts whose free capacity is exactly its slice."""
    free = {h.name: h.free for h in hosts if h.schedulable}
    mine: dict[str, Resources] = {}
    for name in sorted(shares):
        budget = dict(shares[name].items())
        for host_name in sorted(free):
            if all(budget.get(r, 0) <= 0 for r in _SHARED):
                break
            available = free[host_name]
            take = Resources({r: max(0, min(available[r], budget.get(r, 0))) for r in _SHARED})
            if take.cpu <= 0 or take.memory <= 0:
                continue
            free[host_name] = available - take
            for r in _SHARED:
                budget[r] = budget.get(r, 0) - take[r]
            if name == tenant:
                mine[host_name] = take
    return tuple(replace(h, allocated=h.allocatable - mine.get(h.name, EMPTY)) for h in hosts)


def _sum(vectors: Iterable[Resources]) -> Resources:
    total = EMPTY
    for v in vectors:
        total = total + v
    return total
