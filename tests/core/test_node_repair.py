"""Repair: the VM of a node that was Ready once and stays NotReady is deleted, within a valve."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
from test_autoscaler_world import make_node, make_pod, of_type, pending_pod, world

from autoscaler.core.actions import DeleteVM, DrainNode, LaunchVM, Reason, Verdict
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig, disrupting_taint
from autoscaler.core.lifecycle import Lifecycle
from autoscaler.core.model import Node, Pool, Snapshot, VMPhase

AFTER = CoreConfig().unhealthy_node_repair_after
T0 = 1000.0  # when the nodes are first seen Ready


def nodes(count: int, pool: str = "general") -> list[Node]:
    return [make_node(f"{pool}-{i}", pool=pool) for i in range(count)]


def down(all_nodes: Sequence[Node], *names: str) -> list[Node]:
    return [dataclasses.replace(n, ready=False) if n.name in names else n for n in all_nodes]


def seen_ready(lifecycle: Lifecycle, snapshot: Snapshot) -> None:
    assert lifecycle.step(snapshot, T0).actions == ()


def repairs(actions: Sequence[object]) -> list[tuple[str, str | None]]:
    return [(a.vm, a.node) for a in actions if isinstance(a, DeleteVM)]


def test_a_node_notready_longer_than_the_threshold_is_repaired_once() -> None:
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(5)
    seen_ready(lifecycle, world(healthy))
    sick = world(down(healthy, "general-0"))

    assert lifecycle.step(sick, T0 + 10).actions == ()  # the timer starts now
    assert lifecycle.step(sick, T0 + 10 + AFTER).actions == ()
    (action,) = lifecycle.step(sick, T0 + 11 + AFTER).actions

    assert action.reason is Reason.UNHEALTHY
    assert (action.vm, action.node) == ("general-0", "general-0")
    assert "node general-0 of VM general-0" in action.detail
    assert "NotReady for 30m1s" in action.detail
    # The deletion shows in the next snapshot: nothing more to do, and no backoff.
    deleting = dataclasses.replace(
        sick,
        vms=tuple(
            dataclasses.replace(vm, phase=VMPhase.DELETING) if vm.name == "general-0" else vm
            for vm in sick.vms
        ),
    )
    assert lifecycle.step(deleting, T0 + 20 + AFTER).actions == ()
    assert lifecycle.backoff_remaining("general", T0 + 20 + AFTER) == 0.0


def test_ready_again_resets_the_timer() -> None:
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(5)
    seen_ready(lifecycle, world(healthy))
    sick = world(down(healthy, "general-0"))
    lifecycle.step(sick, T0 + 10)
    assert lifecycle.unhealthy_since("general-0") == T0 + 10

    assert lifecycle.step(world(healthy), T0 + AFTER).actions == ()
    assert lifecycle.unhealthy_since("general-0") is None
    assert lifecycle.step(sick, T0 + AFTER + 20).actions == ()
    assert lifecycle.step(sick, T0 + 2 * AFTER + 20).actions == ()
    assert repairs(lifecycle.step(sick, T0 + 2 * AFTER + 21).actions) == [
        ("general-0", "general-0")
    ]


def test_zero_disables_repair() -> None:
    lifecycle = Lifecycle(CoreConfig(unhealthy_node_repair_after=0))
    healthy = nodes(5)
    seen_ready(lifecycle, world(healthy))
    sick = world(down(healthy, "general-0"))
    lifecycle.step(sick, T0 + 10)
    assert lifecycle.step(sick, T0 + 100 * AFTER).actions == ()


def test_the_threshold_is_validated_like_the_other_durations() -> None:
    with pytest.raises(ValueError, match="unhealthy_node_repair_after"):
        CoreConfig(unhealthy_node_repair_after=-1)
    with pytest.raises(ValueError, match="unhealthy_node_repair_after"):
        CoreConfig(unhealthy_node_repair_after=float("nan"))


def test_a_node_never_ready_is_left_to_the_launch_deadline() -> None:
    config = CoreConfig()
    lifecycle = Lifecycle(config)
    snapshot = world([make_node("general-0", ready=False, created=T0)])

    assert lifecycle.step(snapshot, T0).actions == ()
    (action,) = lifecycle.step(snapshot, T0 + config.node_ready_deadline + 1).actions
    assert action.reason is Reason.LAUNCH_TIMEOUT
    assert lifecycle.unhealthy_since("general-0") is None
    assert lifecycle.backoff_remaining("general", T0 + config.node_ready_deadline + 1) > 0


def test_a_new_instance_knows_a_notready_node_hosting_workload_pods_was_ready_once() -> None:
    config = CoreConfig()
    lifecycle = Lifecycle(config)  # it never saw the node Ready
    snapshot = world(
        [make_node("general-0", ready=False, created=T0)], [make_pod("a", "general-0")]
    )
    assert lifecycle.step(snapshot, T0).actions == ()
    # Not a launch that timed out: a node to repair after the repair delay.
    assert lifecycle.step(snapshot, T0 + config.node_ready_deadline + 1).actions == ()
    assert lifecycle.unhealthy_since("general-0") == T0
    (action,) = lifecycle.step(snapshot, T0 + AFTER + 1).actions
    assert action.reason is Reason.UNHEALTHY


def test_the_valve_holds_repair_when_more_than_a_fifth_of_the_pool_is_notready() -> None:
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(10)
    seen_ready(lifecycle, world(healthy))
    # 2 of 10 is 20 %: repaired. 3 of 10 is more: held, and said why.
    two = world(down(healthy, "general-0", "general-1"))
    lifecycle.step(two, T0 + 10)
    assert len(lifecycle.step(two, T0 + 11 + AFTER).actions) == 2

    lifecycle = Lifecycle(CoreConfig())
    seen_ready(lifecycle, world(healthy))
    three = world(down(healthy, "general-0", "general-1", "general-2"))
    lifecycle.step(three, T0 + 10)
    result = lifecycle.step(three, T0 + 11 + AFTER)
    assert result.actions == ()
    assert result.repair_withheld == (
        ("general", "repair withheld: 3 of 10 nodes of pool general are NotReady (more than 20%)"),
    )


def test_one_unhealthy_node_is_always_allowed_even_in_a_small_pool() -> None:
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(2)
    seen_ready(lifecycle, world(healthy))
    sick = world(down(healthy, "general-0"))
    lifecycle.step(sick, T0 + 10)
    assert repairs(lifecycle.step(sick, T0 + 11 + AFTER).actions) == [("general-0", "general-0")]


def test_nodes_on_their_way_out_count_neither_as_unhealthy_nor_in_the_pool() -> None:
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(5)
    seen_ready(lifecycle, world(healthy))
    # general-1's Node is being deleted, general-2's VM is: neither is repaired nor counted,
    # so general-0 is 1 of 3 nodes (allowed) rather than 3 of 5 NotReady (held).
    sick_nodes = down(healthy, "general-0", "general-1", "general-2")
    sick_nodes[1] = dataclasses.replace(sick_nodes[1], deleting=True)
    snapshot = world(sick_nodes)
    snapshot = dataclasses.replace(
        snapshot,
        vms=tuple(
            dataclasses.replace(vm, phase=VMPhase.DELETING) if vm.name == "general-2" else vm
            for vm in snapshot.vms
        ),
    )
    lifecycle.step(snapshot, T0 + 10)
    result = lifecycle.step(snapshot, T0 + 11 + AFTER)
    assert repairs(result.actions) == [("general-0", "general-0")]
    assert result.unhealthy == {"general-0"}


def test_an_invalid_pool_is_left_alone() -> None:
    broken = Pool(name="broken", error="kvpool.io/max-nodes: 'x' is not an integer")
    lifecycle = Lifecycle(CoreConfig())
    healthy = nodes(5, pool="broken")
    seen_ready(lifecycle, world(healthy, pools=[broken]))
    sick = world(down(healthy, "broken-0"), pools=[broken])
    lifecycle.step(sick, T0 + 10)
    result = lifecycle.step(sick, T0 + 11 + AFTER)
    assert result.actions == ()
    assert result.repair_withheld == ()


def test_at_most_max_disrupted_per_pass_repairs_start_in_one_pass_longest_down_first() -> None:
    lifecycle = Lifecycle(CoreConfig(max_disrupted_per_pass=2))
    healthy = nodes(20)
    seen_ready(lifecycle, world(healthy))
    lifecycle.step(world(down(healthy, "general-3")), T0 + 5)
    sick = world(down(healthy, "general-1", "general-2", "general-3"))
    lifecycle.step(sick, T0 + 10)
    assert repairs(lifecycle.step(sick, T0 + 11 + AFTER).actions) == [
        ("general-3", "general-3"),
        ("general-1", "general-1"),
    ]


def test_the_plan_repairs_without_a_drain_and_says_when_the_valve_holds() -> None:
    autoscaler = Autoscaler(CoreConfig(consolidation=False))
    healthy = nodes(4)
    pods = [make_pod(f"p{i}", n.name, cpu=3000) for i, n in enumerate(healthy)]
    autoscaler.decide(world(healthy, pods), T0)
    one = world(down(healthy, "general-0"), pods)
    autoscaler.decide(one, T0 + 10)
    plan = autoscaler.decide(one, T0 + 11 + AFTER)
    assert [(a.vm, a.reason) for a in of_type(plan, DeleteVM)] == [("general-0", Reason.UNHEALTHY)]
    assert of_type(plan, DrainNode) == []

    autoscaler = Autoscaler(CoreConfig(consolidation=False))
    autoscaler.decide(world(healthy, pods), T0)
    two = world(down(healthy, "general-0", "general-1"), pods)
    autoscaler.decide(two, T0 + 10)
    plan = autoscaler.decide(two, T0 + 11 + AFTER)
    assert of_type(plan, DeleteVM) == []
    assert plan.pool_messages == (
        ("general", "repair withheld: 2 of 4 nodes of pool general are NotReady (more than 20%)"),
    )


def test_pending_pods_do_not_wait_for_an_unhealthy_node_as_if_it_were_launching() -> None:
    autoscaler = Autoscaler(CoreConfig(consolidation=False))
    healthy = [make_node("general-0")]
    autoscaler.decide(world(healthy, [make_pod("web-0", "general-0", cpu=3000)]), T0)
    # The node went down and its pod was evicted: the replacement gets a new VM at once.
    plan = autoscaler.decide(
        world(down(healthy, "general-0"), [pending_pod("web-1", cpu=3000)]), T0 + 400
    )
    (launch,) = of_type(plan, LaunchVM)
    assert isinstance(launch, LaunchVM) and launch.pods == ("default/web-1",)
    assert [e.verdict for e in plan.explanations] == [Verdict.NEW_VM]


def test_a_drained_node_that_goes_down_gets_one_deletion_not_two() -> None:
    autoscaler = Autoscaler(CoreConfig(consolidation=False))
    marked = dataclasses.replace(
        make_node("general-0"), unschedulable=True, taints=(disrupting_taint(Reason.EMPTY),)
    )
    others = nodes(5)[1:]
    autoscaler.decide(world([marked, *others]), T0)
    drained = autoscaler.decide(world([marked, *others]), T0 + 5)
    assert [(a.vm, a.reason) for a in of_type(drained, DeleteVM)] == [("general-0", Reason.EMPTY)]

    # The VM's deletion has not shown yet when the node goes NotReady for good.
    sick = world([dataclasses.replace(marked, ready=False), *others])
    autoscaler.decide(sick, T0 + 10)
    plan = autoscaler.decide(sick, T0 + 11 + AFTER)
    assert [(a.vm, a.reason) for a in of_type(plan, DeleteVM)] == [("general-0", Reason.UNHEALTHY)]
