from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.core.capacity import HostCapacityLedger, fair_shares
from autoscaler.core.model import Host

GI = 2**30


def _host(name: str, cpu: int, memory_gi: int, used_cpu: int = 0, used_gi: int = 0) -> Host:
    return Host(
        name=name,
        allocatable=Resources.of(cpu=cpu, memory=memory_gi * GI),
        allocated=Resources.of(cpu=used_cpu, memory=used_gi * GI),
    )


def _total_free(hosts: tuple[Host, ...]) -> Resources:
    total = Resources()
    for host in hosts:
        total = total + host.free
    return total


def test_uncontended_tenant_sees_all_free_capacity() -> None:
    ledger = HostCapacityLedger()
    ledger.observe([_host("h1", 64_000, 256, 16_000, 64)], placed_vms=[], now=0)
    ledger.set_demand("a", 1, Resources.of(cpu=8_000, memory=32 * GI))
    (host,) = ledger.view("a", now=0)
    assert host.free == Resources.of(cpu=48_000, memory=192 * GI)


def test_reservation_hides_capacity_until_the_vm_is_observed_or_expires() -> None:
    ledger = HostCapacityLedger(reservation_ttl_seconds=60)
    ledger.observe([_host("h1", 32_000, 128)], placed_vms=[], now=0)
    ledger.reserve("a", "vm-1", "h1", Resources.of(cpu=8_000, memory=32 * GI), now=0)
    assert ledger.view("b", now=1)[0].free == Resources.of(cpu=24_000, memory=96 * GI)
    ledger.observe([_host("h1", 32_000, 128, 8_000, 32)], placed_vms=["vm-1"], now=2)
    assert "vm-1" not in ledger.reservations
    assert ledger.view("b", now=2)[0].free == Resources.of(cpu=24_000, memory=96 * GI)
    ledger.reserve("a", "vm-2", "h1", Resources.of(cpu=8_000, memory=32 * GI), now=3)
    assert ledger.view("b", now=100)[0].free == Resources.of(cpu=24_000, memory=96 * GI)


def test_contended_capacity_is_split_by_weight_and_never_planned_twice() -> None:
    ledger = HostCapacityLedger()
    ledger.observe([_host("h1", 32_000, 128), _host("h2", 32_000, 128)], placed_vms=[], now=0)
    wanted = Resources.of(cpu=64_000, memory=256 * GI)
    ledger.set_demand("a", 3, wanted)
    ledger.set_demand("b", 1, wanted)
    view_a = _total_free(ledger.view("a", now=0))
    view_b = _total_free(ledger.view("b", now=0))
    assert view_a.cpu == 48_000 and view_b.cpu == 16_000
    assert view_a.memory == 192 * GI and view_b.memory == 64 * GI
    # The two views are disjoint slices of each host.
    for host_a, host_b in zip(ledger.view("a", 0), ledger.view("b", 0), strict=True):
        assert (host_a.free + host_b.free).fits_in(host_a.allocatable)


def test_a_small_demand_is_met_in_full_and_the_rest_goes_to_the_others() -> None:
    shares = fair_shares(
        {
            "small": (1, Resources.of(cpu=2_000, memory=4 * GI)),
            "big": (1, Resources.of(cpu=100_000, memory=400 * GI)),
        },
        Resources.of(cpu=32_000, memory=128 * GI),
    )
    assert shares["small"] == Resources.of(cpu=2_000, memory=4 * GI)
    assert shares["big"] == Resources.of(cpu=30_000, memory=124 * GI)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.integers(min_value=0, max_value=1_000_000),
    demands=st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.tuples(st.integers(1, 10), st.integers(1, 500_000)),
        min_size=1,
    ),
)
def test_fair_shares_never_exceed_capacity_or_demand_and_starve_nobody(
    capacity: int, demands: dict[str, tuple[int, int]]
) -> None:
    shares = fair_shares(
        {name: (w, Resources.of(cpu=want, memory=want)) for name, (w, want) in demands.items()},
        Resources.of(cpu=capacity, memory=capacity),
    )
    assert sum(s.cpu for s in shares.values()) <= capacity
    total_weight = sum(w for w, _ in demands.values())
    for name, (weight, want) in demands.items():
        assert 0 <= shares[name].cpu <= want
        # Everyone gets at least its weighted share (or all it wants), give or take rounding.
        assert shares[name].cpu >= min(want, capacity * weight // total_weight) - len(demands)
