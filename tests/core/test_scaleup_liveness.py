"""Liveness: a pod the scheduler already refused on a Ready node is not counted on it again."""

from __future__ import annotations

from autoscaler.core.actions import Verdict
from autoscaler.core.scaleup import plan_scale_up
from tests.core.test_scaleup import GENERAL, node, pending, verdicts, world


def test_a_pod_marked_unschedulable_before_the_node_was_ready_still_counts_on_it() -> None:
    pods = pending(2, unschedulable_since=50.0)
    result = plan_scale_up(world(pods, nodes=(node("n1", ready_since=100.0),)), [GENERAL])
    assert result.launches == ()
    assert verdicts(result) == {Verdict.FITS_EXISTING: 2}


def test_a_pod_still_unschedulable_after_the_node_was_ready_gets_new_capacity() -> None:
    stuck = pending(2, prefix="stuck", unschedulable_since=200.0)
    fresh = pending(1, prefix="fresh", unschedulable_since=50.0)
    snapshot = world([*stuck, *fresh], nodes=(node("n1", ready_since=100.0),))
    result = plan_scale_up(snapshot, [GENERAL])
    assert result.placements == {"default/fresh0": "n1"}
    assert [key for launch in result.launches for key in launch.pods] == [
        "default/stuck0",
        "default/stuck1",
    ]
    assert verdicts(result) == {Verdict.FITS_EXISTING: 1, Verdict.NEW_VM: 2}
    (why,) = [e for e in result.explanations if e.verdict is Verdict.NEW_VM]
    assert "stayed unschedulable after the scheduler had seen n1 Ready" in why.message


def test_nodes_that_became_ready_later_are_still_counted_on() -> None:
    stuck = pending(1, prefix="stuck", unschedulable_since=200.0)
    nodes = (node("n1", ready_since=100.0), node("n2", ready_since=300.0))
    result = plan_scale_up(world(stuck, nodes=nodes), [GENERAL])
    assert result.launches == ()
    assert result.placements == {"default/stuck0": "n2"}


def test_creation_stands_in_for_an_unknown_ready_time_and_no_time_counts_on_every_node() -> None:
    stuck = pending(1, prefix="stuck", unschedulable_since=200.0)
    unknown = pending(1, prefix="unknown")
    result = plan_scale_up(world([*stuck, *unknown], nodes=(node("n1", created=10.0),)), [GENERAL])
    assert result.placements == {"default/unknown0": "n1"}
    assert verdicts(result) == {Verdict.FITS_EXISTING: 1, Verdict.NEW_VM: 1}
