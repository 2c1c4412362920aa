"""Shape catalogs and right-sizing of VMs for pods, against hosts and quota."""

from __future__ import annotations

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Reason, Verdict
from autoscaler.core.model import Host, Pod, Pool, VirtualMachine, VMPhase
from autoscaler.core.overhead import GI, host_footprint, node_allocatable
from autoscaler.core.plan_budget import PlanBudget
from autoscaler.core.rightsizing import size_for_pods, top_up_min_nodes
from autoscaler.core.shapes import ShapeCatalog, grid

BOUNDS = ShapeBounds(IntRange(2000, 32000, 2000), IntRange(4 * GI, 128 * GI, 2 * GI), GI, 8 * GI)
SETTINGS = PoolSettings(
    image="img", cpu=IntRange(2000, 32000, 1000), memory=IntRange(4 * GI, 128 * GI, 1), max_nodes=50
)
POOL = Pool("general", {"pool": "general"}, settings=SETTINGS, image_hash="h1")
BIG_HOST = Host("host-a", Resources.of(cpu=200_000, memory=1024 * GI))


def pods(count: int, cpu: int, memory: int, prefix: str = "p") -> list[Pod]:
    return [
        Pod("default", f"{prefix}{i}", requests=Resources.of(cpu, memory)) for i in range(count)
    ]


def budget(
    hosts: list[Host] | None = None,
    limits: TenantLimits | None = None,
    vms: tuple[VirtualMachine, ...] = (),
    nodes: dict[str, int] | None = None,
) -> PlanBudget:
    return PlanBudget(
        hosts if hosts is not None else [BIG_HOST], limits or TenantLimits(), vms, nodes or {}
    )


def test_grid_keeps_values_both_ranges_allow() -> None:
    assert grid(IntRange(2000, 32000, 2000), IntRange(3000, 9000, 1000)) == [4000, 6000, 8000]
    assert grid(IntRange(2000, 8000, 2000), IntRange(10_000, 12_000, 1000)) == []


def test_grid_samples_a_fine_grid() -> None:
    values = grid(IntRange(0, 10**12, 1), IntRange(0, 10**12, 1))
    assert 0 < len(values) <= 1024
    assert values == sorted(values)


def test_catalog_respects_memory_per_cpu() -> None:
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    shapes = catalog.shapes()
    assert shapes and all(BOUNDS.allows(s) for s in shapes)
    assert catalog.smallest == Shape(2000, 4 * GI)
    assert catalog.largest == Shape(32000, 128 * GI)
    assert Shape(2000, 16 * GI) in shapes and Shape(2000, 18 * GI) not in shapes


def test_smallest_holding_is_minimal() -> None:
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    load = Resources.of(cpu=5000, memory=10 * GI, pods=3)
    shape = catalog.smallest_holding(load)
    assert shape is not None and load.fits_in(node_allocatable(shape))
    smaller = [
        s
        for s in catalog.shapes()
        if s.cpu <= shape.cpu and s.memory <= shape.memory and s != shape
    ]
    assert not any(load.fits_in(node_allocatable(s)) for s in smaller)
    assert catalog.smallest_holding(Resources.of(cpu=64000)) is None
    assert catalog.smallest_holding(Resources({"nvidia.com/gpu": 1})) is None


def test_largest_fitting_follows_host_room() -> None:
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    room = host_footprint(Shape(8000, 20 * GI))
    shape = catalog.largest_fitting([dict(room)])
    assert shape == Shape(8000, 20 * GI)
    assert catalog.largest_fitting([{"cpu": 1000, "memory": GI}]) is None


def test_pods_are_packed_and_each_vm_shrunk() -> None:
    sizing = size_for_pods(POOL, pods(10, 1000, 2 * GI), BOUNDS, Resources(), budget())
    assert not sizing.unserved
    assert len(sizing.vms) == 1
    vm = sizing.vms[0]
    assert len(vm.pods) == 10 and vm.host == "host-a" and vm.reason is Reason.PENDING_PODS
    assert Resources.of(10_000, 20 * GI, 10).fits_in(node_allocatable(vm.shape))
    assert vm.shape.cpu == 12000  # 10 cores of pods plus kubelet's share need the next step


def test_daemonset_overhead_is_left_free() -> None:
    overhead = Resources.of(cpu=1500, memory=GI, pods=2)
    sizing = size_for_pods(POOL, pods(10, 1000, 2 * GI), BOUNDS, overhead, budget())
    need = Resources.of(10_000, 20 * GI, 10) + overhead
    assert all(need.fits_in(node_allocatable(vm.shape)) for vm in sizing.vms)


def test_vm_that_no_host_takes_is_split() -> None:
    hosts = [Host(f"h{i}", host_footprint(Shape(8000, 16 * GI))) for i in range(4)]
    sizing = size_for_pods(POOL, pods(8, 1500, 2 * GI), BOUNDS, Resources(), budget(hosts))
    assert not sizing.unserved
    assert len(sizing.vms) >= 2
    assert sorted(p.name for vm in sizing.vms for p in vm.pods) == sorted(f"p{i}" for i in range(8))
    per_host: dict[str, Resources] = {}
    for vm in sizing.vms:
        per_host[vm.host] = per_host.get(vm.host, Resources()) + host_footprint(vm.shape)
    assert all(used.fits_in(host_footprint(Shape(8000, 16 * GI))) for used in per_host.values())


def test_hosts_full_when_no_host_takes_a_single_pod() -> None:
    small = [Host("h", host_footprint(Shape(2000, 4 * GI)))]
    sizing = size_for_pods(POOL, pods(1, 4000, 2 * GI), BOUNDS, Resources(), budget(small))
    assert [u.verdict for u in sizing.unserved] == [Verdict.HOSTS_FULL]
    empty = size_for_pods(POOL, pods(1, 100, GI), BOUNDS, Resources(), budget([]))
    assert [u.verdict for u in empty.unserved] == [Verdict.HOSTS_FULL]


def test_pod_larger_than_any_shape() -> None:
    sizing = size_for_pods(POOL, pods(1, 40_000, GI), BOUNDS, Resources(), budget())
    assert [u.verdict for u in sizing.unserved] == [Verdict.EXCEEDS_LARGEST_SHAPE]
    assert "Insufficient cpu" in sizing.unserved[0].message


def test_tenant_limits_hold() -> None:
    existing = (
        VirtualMachine("vm-1", "general", Shape(8000, 32 * GI), "h1", 0.0, VMPhase.RUNNING),
    )
    limits = TenantLimits(cpu=12_000)
    sizing = size_for_pods(
        POOL,
        pods(2, 3000, 4 * GI, "a") + pods(2, 3000, 4 * GI, "b"),
        BOUNDS,
        Resources(),
        budget(limits=limits, vms=existing),
    )
    assert sum(vm.shape.cpu for vm in sizing.vms) + 8000 <= 12_000
    assert sizing.vms  # a smaller split still fits the remaining quota
    assert sizing.unserved and sizing.unserved[0].verdict is Verdict.TENANT_LIMIT_REACHED
    deleting = (
        VirtualMachine("vm-1", "general", Shape(8000, 32 * GI), "h1", 0.0, VMPhase.DELETING),
    )
    assert (
        budget(limits=TenantLimits(vms=1), vms=deleting).limit_failure(Shape(2000, 4 * GI)) is None
    )


def test_pool_max_holds() -> None:
    settings = PoolSettings(
        image="img",
        cpu=IntRange(2000, 4000, 1000),
        memory=IntRange(4 * GI, 32 * GI, 1),
        max_nodes=3,
    )
    pool = Pool("tiny", settings=settings)
    sizing = size_for_pods(pool, pods(10, 3000, GI), BOUNDS, Resources(), budget(nodes={"tiny": 1}))
    assert len(sizing.vms) == 2
    assert {u.verdict for u in sizing.unserved} == {Verdict.POOL_AT_MAX}


def test_min_nodes_top_up_uses_the_smallest_shape() -> None:
    shared = budget(limits=TenantLimits(vms=2))
    vms, why = top_up_min_nodes(POOL, BOUNDS, shared, 3)
    assert [vm.shape for vm in vms] == [Shape(2000, 4 * GI)] * 2
    assert all(vm.reason is Reason.MIN_NODES and vm.pods == () for vm in vms)
    assert why is not None and "at most 2 VMs" in why


def test_each_vm_gets_the_memory_per_cpu_of_the_whole_mix() -> None:
    # The scheduler, not the plan, decides which pods share a VM: a VM sized tightly for
    # cpu-heavy pods would fill its memory with a memory-heavy one and strand its vCPUs.
    web = pods(60, 500, GI, prefix="web")
    cache = pods(10, 1000, 12 * GI, prefix="cache")
    sized = size_for_pods(POOL, [*web, *cache], BOUNDS, Resources(), budget())
    mix_memory_per_cpu = (60 * GI + 10 * 12 * GI) / (60 * 500 + 10 * 1000)
    for vm in sized.vms:
        pods_cpu = sum(p.requests.cpu for p in vm.pods)
        assert vm.shape.memory >= pods_cpu * mix_memory_per_cpu, vm


def test_the_mix_memory_is_not_forced_beyond_the_pools_memory_per_cpu() -> None:
    # Memory-heavy pods alongside cpu-only pods: the mix would ask for more memory per vCPU
    # than the tenant allows, so the cpu-only VMs keep a shape the catalog has.
    busy = pods(32, 1000, 0, prefix="busy")
    heavy = pods(4, 1000, 60 * GI, prefix="heavy")
    sized = size_for_pods(POOL, [*busy, *heavy], BOUNDS, Resources(), budget())
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    assert sized.vms and not sized.unserved
    assert all(vm.shape in catalog.shapes() for vm in sized.vms)
