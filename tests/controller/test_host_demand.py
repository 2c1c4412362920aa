"""A tenant's demand in the host ledger follows its pending pods between decisions."""

from __future__ import annotations

from autoscaler.api.resources import Resources
from autoscaler.controller.demand import HostDemand
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.core.model import Host, Pod

GI = 1024**3


def pod(name: str, cpu: int = 1000) -> Pod:
    return Pod("ns", name, requests=Resources.of(cpu=cpu, memory=GI, other={"nvidia.com/gpu": 1}))


def ledger_with_one_host() -> HostCapacityLedger:
    ledger = HostCapacityLedger()
    ledger.observe([Host("h", Resources.of(cpu=8000, memory=32 * GI))], [], now=0.0)
    return ledger


def free_cpu_seen_by(ledger: HostCapacityLedger, tenant: str) -> int:
    return sum(host.free.cpu for host in ledger.view(tenant, now=0.0))


def test_demand_counts_new_pending_pods_until_a_decision_settles_them() -> None:
    demand = HostDemand(ledger_with_one_host(), "a", weight=1)
    demand.activate([pod("p")])
    demand.arrived(pod("q", cpu=500))
    demand.arrived(pod("q", cpu=500))  # the same pod twice counts once
    assert demand.wanted == Resources.of(cpu=1500, memory=2 * GI)
    demand.left(pod("p"))
    assert demand.wanted == Resources.of(cpu=500, memory=GI)
    demand.settled()
    assert demand.wanted == Resources()
    demand.left(pod("q"))  # settled already: nothing to take back
    assert demand.wanted == Resources()


def test_a_competing_tenant_sees_only_its_weighted_share_while_both_want_more() -> None:
    ledger = ledger_with_one_host()
    a = HostDemand(ledger, "a", weight=3)
    b = HostDemand(ledger, "b", weight=1)
    a.activate([pod(f"a{i}") for i in range(8)])
    b.activate([pod(f"b{i}") for i in range(8)])
    assert free_cpu_seen_by(ledger, "a") == 6000
    assert free_cpu_seen_by(ledger, "b") == 2000
    a.deactivate()  # a follower claims nothing
    assert free_cpu_seen_by(ledger, "b") == 8000
