"""Scale-up planning: existing nodes first, launching VMs next, then new VMs."""

from __future__ import annotations

from dataclasses import replace

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Reason, Verdict
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    POOL_LABEL,
    DaemonSet,
    Host,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Pool,
    Snapshot,
    Taint,
    TaintEffect,
    Toleration,
    VirtualMachine,
    VMPhase,
)
from autoscaler.core.overhead import GI, MI, host_footprint, node_allocatable
from autoscaler.core.scaleup import ScaleUpResult, plan_scale_up

BOUNDS = ShapeBounds(IntRange(2000, 32000, 2000), IntRange(4 * GI, 128 * GI, 2 * GI), GI, 8 * GI)


def settings(**kw: object) -> PoolSettings:
    base = {
        "image": "k8s-1.31",
        "cpu": IntRange(2000, 32000, 1000),
        "memory": IntRange(4 * GI, 128 * GI, 1),
        "max_nodes": 20,
    }
    return PoolSettings(**{**base, **kw})  # type: ignore[arg-type]


GENERAL = Pool("general", {"pool": "general"}, settings=settings(), image_hash="abc123")
HOSTS = (
    Host("host-a", Resources.of(cpu=128_000, memory=512 * GI)),
    Host("host-b", Resources.of(cpu=128_000, memory=512 * GI)),
)


def pending(
    count: int, cpu: int = 1000, memory: int = 2 * GI, prefix: str = "p", **kw: object
) -> list[Pod]:
    return [
        Pod("default", f"{prefix}{i}", requests=Resources.of(cpu, memory), unschedulable=True, **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]


def world(pods: list[Pod], pools: tuple[Pool, ...] = (GENERAL,), **kw: object) -> Snapshot:
    fields: dict[str, object] = {
        "tenant": "t",
        "pods": tuple(pods),
        "nodes": (),
        "vms": (),
        "pools": pools,
        "hosts": HOSTS,
        "shape_bounds": BOUNDS,
    }
    fields.update(kw)
    return Snapshot(**fields)  # type: ignore[arg-type]


def node(name: str, cpu: int = 4000, memory: int = 16 * GI, **kw: object) -> Node:
    labels = {"pool": "general", POOL_LABEL: "general", HOSTNAME_LABEL: name}
    return Node(name, Resources.of(cpu, memory, 110), labels, **kw)  # type: ignore[arg-type]


def verdicts(result: ScaleUpResult) -> dict[Verdict, int]:
    counts: dict[Verdict, int] = {}
    for explanation in result.explanations:
        counts[explanation.verdict] = counts.get(explanation.verdict, 0) + explanation.pods
    return counts


def test_nothing_pending_nothing_launched() -> None:
    result = plan_scale_up(world([]), [GENERAL])
    assert result.launches == () and result.explanations == ()


def test_pods_that_fit_an_existing_node_launch_nothing() -> None:
    result = plan_scale_up(world(pending(3), nodes=(node("n1"),)), [GENERAL])
    assert result.launches == ()
    assert verdicts(result) == {Verdict.FITS_EXISTING: 3}
    assert set(result.placements.values()) == {"n1"}
    assert "n1" in result.explanations[0].message


def test_existing_capacity_counts_bound_pods() -> None:
    running = Pod(
        "default", "busy", requests=Resources.of(3500, GI), node_name="n1", phase=PodPhase.RUNNING
    )
    result = plan_scale_up(world([running, *pending(2)], nodes=(node("n1"),)), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 2}


def test_not_ready_cordoned_and_deleting_nodes_are_not_used() -> None:
    nodes = (node("a", ready=False), node("b", unschedulable=True), node("c", deleting=True))
    result = plan_scale_up(world(pending(1), nodes=nodes), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}


def test_launching_vms_take_pods_before_new_ones() -> None:
    vm = VirtualMachine(
        "general-x1",
        "general",
        Shape(4000, 8 * GI),
        "abc123",
        0.0,
        VMPhase.SCHEDULED,
        host="host-a",
    )
    result = plan_scale_up(world(pending(5), vms=(vm,)), [GENERAL])
    room = node_allocatable(vm.shape)
    fits = min(room.cpu // 1000, room.memory // (2 * GI))
    assert verdicts(result) == {Verdict.FITS_LAUNCHING: fits, Verdict.NEW_VM: 5 - fits}
    assert {result.placements[f"default/p{i}"] for i in range(fits)} == {"general-x1"}
    assert len(result.launches) == 1 and len(result.launches[0].pods) == 5 - fits


def test_launching_vm_leaves_room_for_daemonsets() -> None:
    ds = DaemonSet(
        "kube-system",
        "agent",
        Pod("kube-system", "agent", requests=Resources.of(1000, GI), owner_kind="DaemonSet"),
    )
    vm = VirtualMachine(
        "general-x1", "general", Shape(4000, 8 * GI), "abc123", 0.0, VMPhase.RUNNING
    )
    plain = plan_scale_up(world(pending(5), vms=(vm,)), [GENERAL])
    with_ds = plan_scale_up(world(pending(5), vms=(vm,), daemonsets=(ds,)), [GENERAL])
    assert verdicts(with_ds)[Verdict.FITS_LAUNCHING] == verdicts(plain)[Verdict.FITS_LAUNCHING] - 1


def test_failed_and_deleting_vms_are_not_launching() -> None:
    vms = tuple(
        VirtualMachine(f"v{i}", "general", Shape(8000, 32 * GI), "abc123", 0.0, phase)
        for i, phase in enumerate((VMPhase.FAILED, VMPhase.DELETING))
    )
    result = plan_scale_up(world(pending(1), vms=vms), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}


def test_new_vm_fields() -> None:
    result = plan_scale_up(world(pending(4)), [GENERAL])
    (launch,) = result.launches
    assert launch.pool == "general" and launch.image == "k8s-1.31" and launch.image_hash == "abc123"
    assert launch.reason is Reason.PENDING_PODS and launch.host in {"host-a", "host-b"}
    assert sorted(launch.pods) == [f"default/p{i}" for i in range(4)]
    assert BOUNDS.allows(launch.shape)
    assert Resources.of(4000, 8 * GI, 4).fits_in(node_allocatable(launch.shape))


def test_pool_with_higher_weight_wins() -> None:
    heavy = Pool("zz-preferred", {"pool": "zz"}, settings=settings(weight=10), image_hash="h")
    result = plan_scale_up(world(pending(2), pools=(GENERAL, heavy)), [GENERAL, heavy])
    assert {launch.pool for launch in result.launches} == {"zz-preferred"}


def test_pool_needing_fewer_new_resources_wins_then_name() -> None:
    greedy = DaemonSet(
        "kube-system",
        "greedy",
        Pod(
            "kube-system",
            "greedy",
            requests=Resources.of(2000, 4 * GI),
            owner_kind="DaemonSet",
            node_selector={"pool": "a"},
        ),
    )
    pool_a = Pool("a", {"pool": "a"}, settings=settings(), image_hash="h")
    pool_b = Pool("b", {"pool": "b"}, settings=settings(), image_hash="h")
    result = plan_scale_up(
        world(pending(2), pools=(pool_a, pool_b), daemonsets=(greedy,)), [pool_a, pool_b]
    )
    assert {launch.pool for launch in result.launches} == {"b"}
    tie = plan_scale_up(world(pending(2), pools=(pool_b, pool_a)), [pool_b, pool_a])
    assert {launch.pool for launch in tie.launches} == {"a"}


def test_only_admitting_pools_are_used() -> None:
    gpu = Pool(
        "gpu",
        {"pool": "gpu"},
        (Taint("gpu", TaintEffect.NO_SCHEDULE),),
        settings(weight=5),
        image_hash="h",
    )
    plain = pending(1, prefix="plain")
    tolerant = pending(
        1, prefix="gpu", node_selector={"pool": "gpu"}, tolerations=(Toleration("gpu", "Exists"),)
    )
    result = plan_scale_up(world(plain + tolerant, pools=(GENERAL, gpu)), [GENERAL, gpu])
    pools = {key: launch.pool for launch in result.launches for key in launch.pods}
    assert pools == {"default/plain0": "general", "default/gpu0": "gpu"}


def test_no_pool_matches_says_why_for_each_pool() -> None:
    other = Pool(
        "other",
        {"pool": "other"},
        (Taint("dedicated", TaintEffect.NO_SCHEDULE, "x"),),
        settings(),
        image_hash="h",
    )
    result = plan_scale_up(
        world(pending(2, node_selector={"disk": "ssd"}), pools=(GENERAL, other)), [GENERAL, other]
    )
    (explanation,) = result.explanations
    assert explanation.verdict is Verdict.NO_POOL_MATCHES and explanation.pods == 2
    assert "general: node(s) didn't match node selector" in explanation.message
    assert "other:" in explanation.message
    none_active = plan_scale_up(world(pending(1)), [])
    assert none_active.explanations[0].verdict is Verdict.NO_POOL_MATCHES


def test_invalid_pools_are_not_considered() -> None:
    broken = Pool("broken", {"pool": "general"}, error="bad annotation")
    result = plan_scale_up(world(pending(1), pools=(broken,)), [broken])
    assert result.launches == ()
    assert result.explanations[0].verdict is Verdict.NO_POOL_MATCHES


def test_exceeds_largest_shape() -> None:
    result = plan_scale_up(world(pending(1, memory=200 * GI)), [GENERAL])
    assert verdicts(result) == {Verdict.EXCEEDS_LARGEST_SHAPE: 1}
    assert result.explanations[0].pool == "general"


def test_hosts_full() -> None:
    tiny = (Host("small", Resources.of(cpu=1000, memory=GI)),)
    result = plan_scale_up(world(pending(2), hosts=tiny), [GENERAL])
    assert verdicts(result) == {Verdict.HOSTS_FULL: 2}
    assert result.launches == ()
    assert dict(result.pool_messages)["general"]


def test_unschedulable_hosts_are_skipped() -> None:
    cordoned = (replace(HOSTS[0], schedulable=False),)
    result = plan_scale_up(world(pending(1), hosts=cordoned), [GENERAL])
    assert verdicts(result) == {Verdict.HOSTS_FULL: 1}


def test_tenant_limit_reached() -> None:
    result = plan_scale_up(world(pending(1), limits=TenantLimits(vms=0)), [GENERAL])
    assert verdicts(result) == {Verdict.TENANT_LIMIT_REACHED: 1}
    memory = plan_scale_up(world(pending(1), limits=TenantLimits(memory=2 * GI)), [GENERAL])
    assert verdicts(memory) == {Verdict.TENANT_LIMIT_REACHED: 1}


def test_pool_at_max_counts_existing_and_launching() -> None:
    capped = replace(GENERAL, settings=settings(max_nodes=2))
    vm = VirtualMachine("v1", "general", Shape(2000, 4 * GI), "abc123", 0.0, VMPhase.PENDING)
    full = node("n1", cpu=100)
    result = plan_scale_up(
        world(pending(1, cpu=3000), pools=(capped,), nodes=(full,), vms=(vm,)), [capped]
    )
    assert verdicts(result) == {Verdict.POOL_AT_MAX: 1}


def test_pods_pass_to_the_next_pool_when_the_best_is_at_max() -> None:
    best = Pool("best", {"pool": "x"}, settings=settings(weight=5, max_nodes=0), image_hash="h")
    second = Pool("second", {"pool": "x"}, settings=settings(), image_hash="h")
    result = plan_scale_up(world(pending(2), pools=(best, second)), [best, second])
    assert {launch.pool for launch in result.launches} == {"second"}
    assert verdicts(result) == {Verdict.NEW_VM: 2}


def test_min_nodes_are_topped_up_with_the_smallest_shape() -> None:
    pool = replace(GENERAL, settings=settings(min_nodes=2))
    existing = VirtualMachine(
        "v1", "general", Shape(8000, 32 * GI), "abc123", 0.0, VMPhase.RUNNING, node_name="n1"
    )
    result = plan_scale_up(world([], pools=(pool,), vms=(existing,), nodes=(node("n1"),)), [pool])
    (launch,) = result.launches
    assert launch.reason is Reason.MIN_NODES and launch.shape == Shape(2000, 4 * GI)
    assert launch.pods == ()


def test_min_nodes_counts_vms_planned_for_pods() -> None:
    pool = replace(GENERAL, settings=settings(min_nodes=1))
    result = plan_scale_up(world(pending(1), pools=(pool,)), [pool])
    assert [launch.reason for launch in result.launches] == [Reason.PENDING_PODS]


def test_anti_affinity_replicas_get_their_own_vms() -> None:
    spread = (PodAffinityTerm(LabelSelector(match_labels=(("app", "web"),))),)
    replicas = pending(
        3, cpu=200, memory=256 * MI, labels={"app": "web"}, required_anti_affinity=spread
    )
    result = plan_scale_up(world(replicas), [GENERAL])
    assert len(result.launches) == 3
    assert all(len(launch.pods) == 1 for launch in result.launches)


def test_hosts_are_not_overcommitted() -> None:
    hosts = (
        Host("h1", host_footprint(Shape(16000, 64 * GI))),
        Host("h2", host_footprint(Shape(16000, 64 * GI))),
    )
    result = plan_scale_up(world(pending(40, cpu=1000, memory=2 * GI), hosts=hosts), [GENERAL])
    used: dict[str, Resources] = {}
    for launch in result.launches:
        assert launch.host is not None
        used[launch.host] = used.get(launch.host, Resources()) + host_footprint(launch.shape)
    assert all(
        total.fits_in(host.free)
        for host in hosts
        for name, total in used.items()
        if name == host.name
    )
    served = sum(len(launch.pods) for launch in result.launches)
    assert served + verdicts(result).get(Verdict.HOSTS_FULL, 0) == 40
    assert verdicts(result).get(Verdict.HOSTS_FULL, 0) > 0


def test_pods_that_are_not_pending_are_ignored() -> None:
    gated = pending(1, prefix="g", scheduling_gated=True)
    daemon = pending(1, prefix="d", owner_kind="DaemonSet")
    result = plan_scale_up(world(gated + daemon), [GENERAL])
    assert result.launches == () and result.explanations == ()


def test_explanations_group_by_class_with_a_sample() -> None:
    result = plan_scale_up(world(pending(10) + pending(2, cpu=3000, prefix="big")), [GENERAL])
    counts = sorted(e.pods for e in result.explanations)
    assert counts == [2, 10]
    assert all(len(e.sample) == min(3, e.pods) for e in result.explanations)
    assert all(e.pool == "general" and "general" in e.message for e in result.explanations)
