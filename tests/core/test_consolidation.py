"""Consolidation by replacement and the narrower scale-down hold, through the state machine."""

from __future__ import annotations

from test_autoscaler_world import (
    GI,
    make_node,
    make_pod,
    make_pool,
    names,
    of_type,
    pending_pod,
    vm_for,
    world,
)

from autoscaler.api.policy import BudgetKind, DisruptionBudget, Shape
from autoscaler.core.actions import CordonNode, DrainNode, LaunchVM, Reason
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.cost import vcpu_equivalents
from autoscaler.core.disruption.replacement import REPLACEMENT_MAX_COST_SHARE
from autoscaler.core.model import Snapshot, VMPhase
from autoscaler.core.overhead import node_allocatable

UNNEEDED = 600.0
CONFIG = CoreConfig(scale_down_validation_delay=0.0)
BUDGET = DisruptionBudget(BudgetKind.COUNT, 5)


def busy_nodes() -> Snapshot:
    """Three 4-cpu nodes, each more than half used, whose pods fit one smaller VM."""
    nodes = [make_node(f"n{i}") for i in (1, 2, 3)]
    pods = [make_pod(f"p{i}", f"n{i}", cpu=2500, memory=2 * GI) for i in (1, 2, 3)]
    return world(nodes, pods, pools=[make_pool(disruption_budget=BUDGET)])


def test_busy_nodes_whose_pods_fit_one_cheaper_vm_are_replaced_by_it() -> None:
    autoscaler = Autoscaler(CONFIG)
    snapshot = busy_nodes()
    assert of_type(autoscaler.decide(snapshot, 0.0), LaunchVM) == []  # nodes too young
    plan = autoscaler.decide(snapshot, UNNEEDED)
    [launch] = of_type(plan, LaunchVM)
    assert isinstance(launch, LaunchVM)
    assert launch.reason is Reason.UNDERUTILIZED
    assert set(launch.pods) == {"default/p1", "default/p2", "default/p3"}
    new = node_allocatable(launch.shape)
    old = sum(vcpu_equivalents(n.allocatable.cpu, n.allocatable.memory) for n in snapshot.nodes)
    assert vcpu_equivalents(new.cpu, new.memory) <= REPLACEMENT_MAX_COST_SHARE * old
    assert of_type(plan, CordonNode) == []  # nothing is drained before the replacement is up


def test_replaced_nodes_are_drained_only_once_the_replacement_is_ready() -> None:
    autoscaler = Autoscaler(CONFIG)
    snapshot = busy_nodes()
    autoscaler.decide(snapshot, 0.0)
    [launch] = of_type(autoscaler.decide(snapshot, UNNEEDED), LaunchVM)
    assert isinstance(launch, LaunchVM)
    alloc = node_allocatable(launch.shape)
    booting = vm_for(make_node("r"), shape=launch.shape, node_name=None, phase=VMPhase.SCHEDULED)
    vms = [*(vm_for(n) for n in snapshot.nodes), booting]
    launching = world(snapshot.nodes, snapshot.pods, pools=snapshot.pools, vms=vms)
    for now in (UNNEEDED + 30, UNNEEDED + 60):
        plan = autoscaler.decide(launching, now)
        assert of_type(plan, CordonNode) == [] and of_type(plan, LaunchVM) == []
    ready_node = make_node("r", cpu=alloc.cpu, memory=alloc.memory, created=UNNEEDED + 90)
    ready = world(
        [*snapshot.nodes, ready_node],
        snapshot.pods,
        pools=snapshot.pools,
        vms=[*(vm_for(n) for n in snapshot.nodes), vm_for(ready_node, shape=launch.shape)],
    )
    plan = autoscaler.decide(ready, UNNEEDED + 120)
    assert sorted(names(of_type(plan, DrainNode))) == ["n1", "n2", "n3"]
    assert "r" not in names(of_type(plan, CordonNode))


def test_consolidation_can_be_turned_off() -> None:
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0, consolidation=False))
    snapshot = busy_nodes()
    autoscaler.decide(snapshot, 0.0)
    assert autoscaler.decide(snapshot, UNNEEDED).actions == ()


def test_right_sized_nodes_are_not_replaced() -> None:
    autoscaler = Autoscaler(CONFIG)
    nodes = [make_node(f"n{i}", cpu=4000, memory=4 * GI) for i in (1, 2)]
    pods = [make_pod(f"p{i}", f"n{i}", cpu=3000, memory=2 * GI) for i in (1, 2)]
    vms = [vm_for(n, shape=Shape(4000, 4 * GI)) for n in nodes]
    snapshot = world(nodes, pods, pools=[make_pool(disruption_budget=BUDGET)], vms=vms)
    autoscaler.decide(snapshot, 0.0)
    assert autoscaler.decide(snapshot, UNNEEDED).actions == ()


def test_a_launching_vm_alone_does_not_hold_the_pool() -> None:
    autoscaler = Autoscaler(CONFIG)
    nodes = [make_node("n1"), make_node("n2")]
    booting = vm_for(make_node("v"), node_name=None, phase=VMPhase.SCHEDULED)
    snapshot = world(
        nodes, [make_pod("a", "n1", cpu=3000)], vms=[*(vm_for(n) for n in nodes), booting]
    )
    autoscaler.decide(snapshot, 0.0)
    plan = autoscaler.decide(snapshot, UNNEEDED)
    assert names(of_type(plan, CordonNode)) == ["n2"]


def test_a_removal_that_takes_room_planned_for_pending_pods_is_dropped() -> None:
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0, consolidation=False))
    nodes = [make_node("n1", cpu=8000), make_node("n2", cpu=8000)]
    booting = vm_for(make_node("v"), node_name=None, phase=VMPhase.SCHEDULED)
    # n2's pod fits on n1 now, but n1's room and the launching VM are planned for the two
    # pending pods: removing n2 would make the next scale-up launch a VM for one of them.
    pods = [
        make_pod("a", "n1", cpu=4000),
        make_pod("b", "n2", cpu=3000),
        pending_pod("c1", cpu=3800),
        pending_pod("c2", cpu=3500),
    ]
    snapshot = world(nodes, pods, vms=[*(vm_for(n) for n in nodes), booting])
    first = autoscaler.decide(snapshot, 0.0)
    assert of_type(first, LaunchVM) == []  # both pending pods have room already
    assert autoscaler.unneeded_since("n2") is not None  # its pod alone would fit elsewhere
    # Still launching, well within its deadline.
    booting = vm_for(make_node("v"), node_name=None, phase=VMPhase.SCHEDULED, phase_since=570.0)
    later = world(nodes, pods, vms=[*(vm_for(n) for n in nodes), booting])
    plan = autoscaler.decide(later, UNNEEDED)
    assert plan.actions == ()


def test_a_new_instance_drains_the_nodes_a_replacement_it_did_not_launch_is_for() -> None:
    first = Autoscaler(CONFIG)
    snapshot = busy_nodes()
    first.decide(snapshot, 0.0)
    [launch] = of_type(first.decide(snapshot, UNNEEDED), LaunchVM)
    assert isinstance(launch, LaunchVM)
    assert launch.replaces == ("n1", "n2", "n3")  # recorded on the VM

    # Another instance takes over while the replacement boots, knowing only the VM's record.
    alloc = node_allocatable(launch.shape)
    ready_node = make_node("r", cpu=alloc.cpu, memory=alloc.memory, created=UNNEEDED + 90)
    replacement = vm_for(ready_node, shape=launch.shape, replaces=launch.replaces)
    ready = world(
        [*snapshot.nodes, ready_node],
        snapshot.pods,
        pools=snapshot.pools,
        vms=[*(vm_for(n) for n in snapshot.nodes), replacement],
    )
    second = Autoscaler(CONFIG)
    plan = second.decide(ready, UNNEEDED + 120)
    assert sorted(names(of_type(plan, DrainNode))) == ["n1", "n2", "n3"]
    assert all("replaced by a cheaper VM" in a.detail for a in of_type(plan, CordonNode))
    assert of_type(plan, LaunchVM) == []


def test_a_replacement_record_past_its_deadline_or_naming_drained_nodes_is_ignored() -> None:
    snapshot = busy_nodes()
    late = vm_for(make_node("r"), replaces=("n1", "n2", "n3"), created=0.0)
    ready_node = make_node("r", created=0.0)
    old = world(
        [*snapshot.nodes, ready_node],
        snapshot.pods,
        pools=snapshot.pools,
        vms=[*(vm_for(n) for n in snapshot.nodes), late],
    )
    plan = Autoscaler(CoreConfig(scale_down_validation_delay=0.0, consolidation=False)).decide(
        old, 2 * 3600.0
    )
    assert of_type(plan, DrainNode) == []


def test_a_replacement_is_not_removed_as_empty_while_the_cordons_of_its_old_nodes_fail() -> None:
    """Every cordon of the old nodes fails for as long as the replacement takes to look
    unneeded: the replacement is the room their pods wait for, so it is not removed as empty
    (it would be cordoned when the cordons work again, leaving their pods nowhere to go)."""
    autoscaler = Autoscaler(CONFIG)
    snapshot = busy_nodes()
    autoscaler.decide(snapshot, 0.0)
    [launch] = of_type(autoscaler.decide(snapshot, UNNEEDED), LaunchVM)
    assert isinstance(launch, LaunchVM)
    alloc = node_allocatable(launch.shape)
    ready_node = make_node("r", cpu=alloc.cpu, memory=alloc.memory, created=UNNEEDED + 90)
    ready = world(
        [*snapshot.nodes, ready_node],
        snapshot.pods,
        pools=snapshot.pools,
        vms=[
            *(vm_for(n) for n in snapshot.nodes),
            vm_for(ready_node, shape=launch.shape, replaces=launch.replaces),
        ],
    )
    start = UNNEEDED + 120
    plan = autoscaler.decide(ready, start)
    assert sorted(names(of_type(plan, CordonNode))) == ["n1", "n2", "n3"]
    # The snapshot never shows the cordons, up to the drain deadline.
    cordoned: list[str] = []
    now = start
    while now < start + CONFIG.drain_timeout:
        now += CONFIG.drain_retry_interval
        cordoned += names(of_type(autoscaler.decide(ready, now), CordonNode))
    assert sorted(set(cordoned)) == ["n1", "n2", "n3"]  # asked again, never the replacement
    assert autoscaler.draining() == ("n1", "n2", "n3")
