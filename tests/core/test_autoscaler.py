"""The decision state machine, driven by hand-advanced time over small worlds."""

from __future__ import annotations

import dataclasses

from test_autoscaler_world import (
    make_node,
    make_pod,
    make_pool,
    names,
    of_type,
    pending_pod,
    vm_for,
    world,
)

from autoscaler.api.policy import BudgetKind, DisruptionBudget
from autoscaler.core.actions import (
    CordonNode,
    DeleteVM,
    DrainNode,
    LaunchVM,
    Reason,
    UncordonNode,
    Verdict,
)
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig, disrupting_taint
from autoscaler.core.model import Node, Pool, Snapshot, VMPhase

UNNEEDED = 600.0
DELAY = CoreConfig().scale_down_validation_delay


def cordoned(node: Node, reason: Reason = Reason.EMPTY) -> Node:
    return dataclasses.replace(node, unschedulable=True, taints=(disrupting_taint(reason),))


def two_nodes_one_empty() -> Snapshot:
    return world([make_node("n1"), make_node("n2")], [make_pod("a", "n1", cpu=3000)])


def test_scale_down_waits_for_the_validation_delay_then_cordons_and_drains() -> None:
    autoscaler = Autoscaler()
    snapshot = two_nodes_one_empty()
    assert autoscaler.decide(snapshot, 0.0).actions == ()
    assert autoscaler.decide(snapshot, UNNEEDED).actions == ()  # chosen now, validated later
    assert autoscaler.decide(snapshot, UNNEEDED + DELAY - 1).actions == ()
    plan = autoscaler.decide(snapshot, UNNEEDED + DELAY)
    assert plan.actions == (
        CordonNode("n2", Reason.EMPTY, "node runs no workload pods"),
        DrainNode("n2", Reason.EMPTY, "node runs no workload pods"),
    )
    assert autoscaler.draining() == ("n2",)


def test_a_candidate_needed_again_during_validation_is_not_touched() -> None:
    autoscaler = Autoscaler(CoreConfig(consolidation=False))
    snapshot = two_nodes_one_empty()
    busy = world(
        [make_node("n1"), make_node("n2")],
        [make_pod("a", "n1", cpu=3000), make_pod("b", "n2", cpu=3000)],
    )
    autoscaler.decide(snapshot, 0.0)
    autoscaler.decide(snapshot, UNNEEDED)
    assert autoscaler.decide(busy, UNNEEDED + 5).actions == ()
    # Empty again: the unneeded time starts over, so does the validation.
    assert autoscaler.decide(snapshot, UNNEEDED + DELAY).actions == ()
    assert autoscaler.unneeded_since("n2") == UNNEEDED + DELAY


def test_drained_node_is_deleted_with_its_vm_after_the_delete_delay() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0, delete_delay_after_drain=10.0)
    autoscaler = Autoscaler(config)
    node = make_node("n2")
    base = world([make_node("n1"), node], [make_pod("a", "n1", cpu=1000), make_pod("b", "n2")])
    busy_vm = vm_for(node, name="vm-n2")
    snapshot = dataclasses.replace(base, vms=(vm_for(make_node("n1")), busy_vm))
    autoscaler.decide(snapshot, 0.0)
    plan = autoscaler.decide(snapshot, UNNEEDED)
    assert names(of_type(plan, CordonNode)) == ["n2"]

    draining = dataclasses.replace(snapshot, nodes=(make_node("n1"), cordoned(node)))
    retry = CoreConfig().drain_retry_interval
    assert autoscaler.decide(draining, UNNEEDED + 1).actions == ()
    assert names(of_type(autoscaler.decide(draining, UNNEEDED + retry), DrainNode)) == ["n2"]

    drained = dataclasses.replace(draining, pods=(make_pod("a", "n1", cpu=1000),))
    assert autoscaler.decide(drained, UNNEEDED + 40).actions == ()
    plan = autoscaler.decide(drained, UNNEEDED + 50)
    assert plan.actions == (
        DeleteVM("vm-n2", Reason.UNDERUTILIZED, node="n2", detail="node n2 is drained"),
    )


def test_a_drain_that_takes_too_long_is_undone_and_the_node_rests() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0)
    autoscaler = Autoscaler(config)
    pods = [make_pod("a", "n1", cpu=1000), make_pod("b", "n2", cpu=2500)]
    snapshot = world([make_node("n1"), make_node("n2")], pods)
    autoscaler.decide(snapshot, 0.0)
    assert names(of_type(autoscaler.decide(snapshot, UNNEEDED), CordonNode)) == ["n1"]

    stuck = dataclasses.replace(snapshot, nodes=(cordoned(make_node("n1")), make_node("n2")))
    end = UNNEEDED + config.drain_timeout
    assert of_type(autoscaler.decide(stuck, end), UncordonNode) == []
    plan = autoscaler.decide(stuck, end + 1)
    uncordons = of_type(plan, UncordonNode)
    assert [(a.node, a.reason) for a in uncordons] == [("n1", Reason.DRAIN_TIMEOUT)]
    assert "default/a" in uncordons[0].detail
    assert autoscaler.draining() == ()

    # Back to schedulable, the node is not chosen again while it rests.
    for now in (end + 2, end + UNNEEDED + 2):
        assert of_type(autoscaler.decide(snapshot, now), CordonNode) == []


def test_restart_continues_a_drain_marked_on_the_node() -> None:
    autoscaler = Autoscaler()
    nodes = (make_node("n1"), cordoned(make_node("n2"), Reason.UNDERUTILIZED))
    pods = (make_pod("a", "n1", cpu=1000), make_pod("b", "n2", cpu=1000))
    snapshot = world(nodes, pods)
    plan = autoscaler.decide(snapshot, 5000.0)
    assert [(a.node, a.reason) for a in of_type(plan, DrainNode)] == [("n2", Reason.UNDERUTILIZED)]
    assert of_type(plan, UncordonNode) == []
    assert autoscaler.draining() == ("n2",)

    drained = dataclasses.replace(snapshot, pods=pods[:1])
    plan = autoscaler.decide(drained, 5000.0 + CoreConfig().delete_delay_after_drain + 1)
    plan = autoscaler.decide(drained, 5000.0 + 2 * CoreConfig().delete_delay_after_drain + 2)
    deletions = of_type(plan, DeleteVM)
    assert [(a.vm, a.node, a.reason) for a in deletions] == [("n2", "n2", Reason.UNDERUTILIZED)]


def test_restart_gives_back_a_marked_node_that_is_needed_again() -> None:
    autoscaler = Autoscaler()
    nodes = (make_node("n1"), cordoned(make_node("n2")), cordoned(make_node("n3"), Reason.EMPTY))
    pods = (
        make_pod("a", "n1", cpu=3500),
        make_pod("b", "n2", cpu=3000),  # does not fit on n1
        make_pod("c", "n3", cpu=100, do_not_disrupt=True),
    )
    plan = autoscaler.decide(world(nodes, pods), 100.0)
    assert [(a.node, a.reason) for a in of_type(plan, UncordonNode)] == [
        ("n2", Reason.SCALE_DOWN_ABORTED),
        ("n3", Reason.SCALE_DOWN_ABORTED),
    ]
    assert of_type(plan, DrainNode) == []


def test_invalid_pool_gets_a_message_and_nothing_else() -> None:
    autoscaler = Autoscaler()
    broken = Pool(name="general", labels={"kvpool.io/pool": "general"}, error="bad max-nodes")
    stuck_vm = vm_for(make_node("vm-x"), node_name=None, phase=VMPhase.FAILED)
    snapshot = world(
        [make_node("n1"), make_node("n2")],
        [pending_pod("p", cpu=6000, node_selector={"kvpool.io/pool": "general"})],
        pools=[broken],
        vms=[vm_for(make_node("n1")), vm_for(make_node("n2")), stuck_vm],
    )
    for now in (0.0, 10_000.0, 20_000.0):
        plan = autoscaler.decide(snapshot, now)
        assert plan.actions == ()
    assert plan.pool_messages == (("general", "bad max-nodes"),)
    assert [(e.verdict, e.pool) for e in plan.explanations] == [(Verdict.POOL_INVALID, "general")]


def test_a_failed_launch_backs_the_pool_off_and_explains_it() -> None:
    autoscaler = Autoscaler()
    failed = vm_for(make_node("vm-1"), node_name=None, phase=VMPhase.FAILED)
    pending = [pending_pod("p", cpu=1000)]
    first = autoscaler.decide(world([], pending, vms=[failed]), 100.0)
    assert [(a.vm, a.reason) for a in of_type(first, DeleteVM)] == [("vm-1", Reason.BOOT_FAILED)]
    assert of_type(first, LaunchVM) == []
    assert [e.verdict for e in first.explanations] == [Verdict.BACKING_OFF]
    assert "30s" in first.explanations[0].message
    assert first.pool_messages[0][0] == "general"

    still = autoscaler.decide(world([], pending), 120.0)
    assert of_type(still, LaunchVM) == []
    after = autoscaler.decide(world([], pending), 131.0)
    assert [a.pods for a in of_type(after, LaunchVM)] == [("default/p",)]


def test_a_pool_that_just_launched_does_not_shrink_during_a_configured_cooldown() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0, scale_down_cooldown_after_scale_up=120.0)
    autoscaler = Autoscaler(config)
    pool = make_pool(scale_down_unneeded_seconds=0.0)
    nodes = [make_node("n1"), make_node("n2")]
    bound = [make_pod("a", "n1", cpu=3000)]
    big = pending_pod("big", cpu=6000)

    plan = autoscaler.decide(world(nodes, [*bound, big], pools=[pool]), 0.0)
    assert len(of_type(plan, LaunchVM)) == 1
    assert of_type(plan, CordonNode) == []
    # The VM is not visible yet and the pod has been bound elsewhere: still no scale-down.
    quiet = world(nodes, bound, pools=[pool])
    assert of_type(autoscaler.decide(quiet, 60.0), CordonNode) == []
    cooldown = config.scale_down_cooldown_after_scale_up
    assert names(of_type(autoscaler.decide(quiet, cooldown + 1), CordonNode)) == ["n2"]


def test_pending_pods_the_pool_could_serve_hold_its_scale_down() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0)
    autoscaler = Autoscaler(config)
    pool = make_pool(scale_down_unneeded_seconds=0.0, max_nodes=2)  # at max: no launch either
    nodes = [make_node("n1"), make_node("n2")]
    pods = [make_pod("a", "n1", cpu=3000), make_pod("b", "n2", cpu=500), pending_pod("c", 6000)]
    assert of_type(autoscaler.decide(world(nodes, pods, pools=[pool]), 0.0), CordonNode) == []


def test_over_max_pool_shrinks_through_the_drain_path() -> None:
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0))
    budget = DisruptionBudget(BudgetKind.COUNT, 5)
    pool = make_pool(max_nodes=1, disruption_budget=budget)
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    pods = [make_pod("a", "n1", cpu=100), make_pod("b", "n2", cpu=100), make_pod("c", "n3")]
    plan = autoscaler.decide(world(nodes, pods, pools=[pool]), 0.0)
    cordons = of_type(plan, CordonNode)
    assert len(cordons) == 2
    assert {a.reason for a in cordons} == {Reason.OVER_MAX}
    assert len(of_type(plan, DrainNode)) == 2


def test_drifted_node_without_room_is_replaced_before_it_is_drained() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0)
    autoscaler = Autoscaler(config)
    pool = make_pool(image_hash="img-v2")
    old = make_node("old", image_hash="img-v1")
    pods = [make_pod("a", "old", cpu=3000)]

    plan = autoscaler.decide(world([old], pods, pools=[pool]), 0.0)
    launches = of_type(plan, LaunchVM)
    assert [(a.reason, a.image_hash, a.pods) for a in launches] == [
        (Reason.DRIFTED, "img-v2", ("default/a",))
    ]
    assert of_type(plan, CordonNode) == []

    new_vm = vm_for(make_node("new"), image_hash="img-v2", node_name=None, phase=VMPhase.SCHEDULED)
    booting = world([old], pods, pools=[pool], vms=[vm_for(old), new_vm])
    for now in (10.0, 60.0, 200.0):
        plan = autoscaler.decide(booting, now)
        assert of_type(plan, LaunchVM) == [] and of_type(plan, CordonNode) == []

    new = make_node("new", image_hash="img-v2")
    ready = world([old, new], pods, pools=[pool], vms=[vm_for(old), vm_for(new)])
    plan = autoscaler.decide(ready, 300.0)
    assert [(a.node, a.reason) for a in of_type(plan, CordonNode)] == [("old", Reason.DRIFTED)]


def test_launch_timeout_deletes_the_vm_naming_the_phase() -> None:
    autoscaler = Autoscaler()
    vm = vm_for(make_node("vm-1"), node_name=None, phase=VMPhase.PROVISIONING, phase_since=0.0)
    plan = autoscaler.decide(world([], vms=[vm]), CoreConfig().provisioning_deadline + 60)
    deletions = of_type(plan, DeleteVM)
    assert [(a.vm, a.reason) for a in deletions] == [("vm-1", Reason.LAUNCH_TIMEOUT)]
    assert "Provisioning" in deletions[0].detail and "16m0s" in deletions[0].detail


def test_pending_pods_of_other_schedulers_are_not_ours() -> None:
    foreign = pending_pod("p", scheduler_name="volcano")
    plan = Autoscaler().decide(world([], [foreign]), 0.0)
    assert of_type(plan, LaunchVM) == []
    ours = Autoscaler(CoreConfig(scheduler_names=("default-scheduler", "volcano")))
    assert len(of_type(ours.decide(world([], [foreign]), 0.0), LaunchVM)) == 1


def test_same_sequence_of_snapshots_gives_the_same_plans() -> None:
    nodes = [make_node(f"n{i}") for i in range(6)]
    pods = [make_pod(f"p{i}", f"n{i % 3}", cpu=300 * (i % 4 + 1)) for i in range(9)]
    pools = [make_pool(disruption_budget=DisruptionBudget(BudgetKind.COUNT, 3))]
    snapshot = world(nodes, [*pods, pending_pod("x", cpu=5000)], pools=pools)
    times = [0.0, 15.0, 300.0, 600.0, 615.0, 700.0, 1300.0, 1315.0]
    first, second = Autoscaler(), Autoscaler()
    assert [first.decide(snapshot, t) for t in times] == [second.decide(snapshot, t) for t in times]


def test_a_node_someone_else_uncordoned_is_let_go() -> None:
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0))
    pods = [make_pod("a", "n1", cpu=1000), make_pod("b", "n2", cpu=2500)]
    snapshot = world([make_node("n1"), make_node("n2")], pods)
    autoscaler.decide(snapshot, 0.0)
    assert names(of_type(autoscaler.decide(snapshot, UNNEEDED), CordonNode)) == ["n1"]
    marked = make_node("n1", unschedulable=True, taints=(disrupting_taint("Underutilized"),))
    autoscaler.decide(world([marked, make_node("n2")], pods), UNNEEDED + 1)
    retry = CoreConfig().drain_retry_interval
    plan = autoscaler.decide(snapshot, UNNEEDED + retry)
    assert autoscaler.draining() == ()
    assert of_type(plan, DeleteVM) == [] and of_type(plan, CordonNode) == []
