"""A disruption in progress is carried to its end: a cordon that has not landed is asked for
again (never drained or deleted meanwhile), a deletion the live check held stays open, and a
new instance resumes a disruption from the record on the Node with its original deadline."""

from __future__ import annotations

import dataclasses

from test_autoscaler_world import make_node, make_pod, names, of_type, vm_for, world

from autoscaler.api.disruption import DisruptionRecord
from autoscaler.core.actions import CordonNode, DeleteVM, DrainNode, Reason, UncordonNode
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig, disrupting_taint
from autoscaler.core.model import Node, Snapshot

CONFIG = CoreConfig(scale_down_validation_delay=0.0, consolidation=False)
UNNEEDED = 600.0
RETRY = CONFIG.drain_retry_interval


def marked(node: Node, reason: Reason = Reason.EMPTY, started: float | None = None) -> Node:
    record = None if started is None else DisruptionRecord(str(reason), started, "why")
    return dataclasses.replace(
        node, unschedulable=True, taints=(disrupting_taint(reason),), disruption=record
    )


def with_vms(snapshot: Snapshot) -> Snapshot:
    return dataclasses.replace(snapshot, vms=tuple(vm_for(n) for n in snapshot.nodes))


def empty_second_node() -> Snapshot:
    return with_vms(world([make_node("n1"), make_node("n2")], [make_pod("a", "n1", cpu=3000)]))


def start_removal_of_n2(autoscaler: Autoscaler) -> Snapshot:
    snapshot = empty_second_node()
    autoscaler.decide(snapshot, 0.0)
    assert names(of_type(autoscaler.decide(snapshot, UNNEEDED), CordonNode)) == ["n2"]
    return snapshot


def test_a_cordon_that_did_not_land_is_asked_again_and_nothing_is_deleted_meanwhile() -> None:
    autoscaler = Autoscaler(CONFIG)
    unmarked = start_removal_of_n2(autoscaler)
    # The snapshot never shows the cordon: the node is empty, yet it is not deleted.
    assert autoscaler.decide(unmarked, UNNEEDED + 1).actions == ()
    plan = autoscaler.decide(unmarked, UNNEEDED + RETRY)
    assert plan.actions == (
        CordonNode("n2", Reason.EMPTY, "cordon retried"),
        DrainNode("n2", Reason.EMPTY, "drain after the cordon"),
    )
    assert of_type(plan, DeleteVM) == [] and autoscaler.draining() == ("n2",)

    # Once the cordon shows, the removal goes on to the deletion.
    cordoned = dataclasses.replace(unmarked, nodes=(make_node("n1"), marked(make_node("n2"))))
    autoscaler.decide(cordoned, UNNEEDED + RETRY + 1)
    plan = autoscaler.decide(cordoned, UNNEEDED + RETRY + 1 + CONFIG.delete_delay_after_drain)
    assert [(a.vm, a.reason) for a in of_type(plan, DeleteVM)] == [("n2", Reason.EMPTY)]


def test_a_cordon_that_never_lands_is_given_up_after_the_drain_timeout() -> None:
    autoscaler = Autoscaler(CONFIG)
    unmarked = start_removal_of_n2(autoscaler)
    plan = autoscaler.decide(unmarked, UNNEEDED + CONFIG.drain_timeout + 1)
    uncordons = of_type(plan, UncordonNode)
    assert [(a.node, a.reason) for a in uncordons] == [("n2", Reason.SCALE_DOWN_ABORTED)]
    assert "could not be cordoned" in uncordons[0].detail
    assert autoscaler.draining() == ()


def test_half_of_a_cordon_undone_is_completed_and_both_undone_lets_the_node_go() -> None:
    autoscaler = Autoscaler(CONFIG)
    snapshot = start_removal_of_n2(autoscaler)
    cordoned = dataclasses.replace(snapshot, nodes=(make_node("n1"), marked(make_node("n2"))))
    autoscaler.decide(cordoned, UNNEEDED + 1)
    half = dataclasses.replace(
        snapshot, nodes=(make_node("n1"), dataclasses.replace(marked(make_node("n2")), taints=()))
    )
    plan = autoscaler.decide(half, UNNEEDED + RETRY + 1)
    assert names(of_type(plan, CordonNode)) == ["n2"]
    # Neither cordon nor taint after they were seen: someone took the node back.
    plan = autoscaler.decide(snapshot, UNNEEDED + 2 * RETRY + 2)
    assert plan.actions == () and autoscaler.draining() == ()


def test_a_held_deletion_keeps_the_removal_open_retrying_evictions_and_the_deletion() -> None:
    autoscaler = Autoscaler(CONFIG)
    snapshot = start_removal_of_n2(autoscaler)
    cordoned = dataclasses.replace(snapshot, nodes=(make_node("n1"), marked(make_node("n2"))))
    autoscaler.decide(cordoned, UNNEEDED + 1)
    first = UNNEEDED + 1 + CONFIG.delete_delay_after_drain
    assert names(of_type(autoscaler.decide(cordoned, first), DeleteVM)) == ["n2"]

    autoscaler.deletion_held("n2", "node n2 still runs pod default/web-a", first)
    plan = autoscaler.decide(cordoned, first + 1)
    assert [type(a) for a in plan.actions] == [DrainNode, DeleteVM]
    assert "default/web-a" in of_type(plan, DrainNode)[0].detail
    assert autoscaler.decide(cordoned, first + 2).actions == ()  # paced by the retry interval
    assert names(of_type(autoscaler.decide(cordoned, first + 1 + RETRY), DeleteVM)) == ["n2"]

    # Held past the drain timeout: the node is given back, named with why.
    plan = autoscaler.decide(cordoned, UNNEEDED + CONFIG.drain_timeout + 1)
    uncordons = of_type(plan, UncordonNode)
    assert [(a.node, a.reason) for a in uncordons] == [("n2", Reason.DRAIN_TIMEOUT)]
    assert "default/web-a" in uncordons[0].detail


def test_a_new_instance_resumes_from_the_record_with_the_original_deadline() -> None:
    started = 1000.0
    nodes = (make_node("n1"), marked(make_node("n2"), Reason.DRIFTED, started=started))
    pods = (make_pod("a", "n1", cpu=1000), make_pod("b", "n2", cpu=1000))
    snapshot = with_vms(world(nodes, pods))
    resumed = Autoscaler(CONFIG)
    plan = resumed.decide(snapshot, started + 100)
    assert plan.actions == (DrainNode("n2", Reason.DRIFTED, "drain resumed"),)
    # The deadline counts from the recorded start, not from when this instance looked.
    plan = resumed.decide(snapshot, started + CONFIG.drain_timeout + 1)
    assert [(a.node, a.reason) for a in of_type(plan, UncordonNode)] == [
        ("n2", Reason.DRAIN_TIMEOUT)
    ]


def test_a_record_from_the_future_counts_from_now() -> None:
    nodes = (make_node("n1"), marked(make_node("n2"), Reason.EMPTY, started=10_000.0))
    pods = (make_pod("a", "n1", cpu=1000), make_pod("b", "n2", cpu=1000))
    snapshot = with_vms(world(nodes, pods))
    resumed = Autoscaler(CONFIG)
    resumed.decide(snapshot, 100.0)
    plan = resumed.decide(snapshot, 100.0 + CONFIG.drain_timeout - 1)
    assert of_type(plan, UncordonNode) == []
    assert resumed.draining() == ("n2",)
