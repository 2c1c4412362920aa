"""Planning with pods and nodes the model cannot fully read, and with cordoned nodes.

A pending pod with an unreadable field that bears on placement is not planned and says which
field; a bound one counts on its node and keeps the node. A node cordoned by someone else
takes the pods that tolerate the cordon (kube-scheduler's NodeUnschedulable); a node we
drain takes nothing we plan.
"""

from __future__ import annotations

from dataclasses import replace

from test_scaleup import GENERAL, node, pending, verdicts, world

from autoscaler.api.resources import Resources
from autoscaler.core.actions import Verdict
from autoscaler.core.config import disrupting_taint
from autoscaler.core.eviction import pod_blocker
from autoscaler.core.model import DaemonSet, Pod, PodPhase, Toleration
from autoscaler.core.overhead import GI, daemonset_overhead
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.unmodelled import placement_unknowns

TOLERATES_CORDON = (Toleration("node.kubernetes.io/unschedulable", "Exists", effect="NoSchedule"),)


def test_a_pod_tolerating_the_cordon_fits_a_node_cordoned_by_someone_else() -> None:
    pods = pending(1, tolerations=TOLERATES_CORDON) + pending(1, prefix="plain")
    result = plan_scale_up(world(pods, nodes=(node("n1", unschedulable=True),)), [GENERAL])
    assert result.placements == {"default/p0": "n1"}
    assert verdicts(result) == {Verdict.FITS_EXISTING: 1, Verdict.NEW_VM: 1}


def test_a_node_we_drain_takes_no_planned_pod_even_a_tolerant_one() -> None:
    draining = node("n1", unschedulable=True, taints=(disrupting_taint("Underutilized"),))
    everything = (Toleration(operator="Exists"),)
    result = plan_scale_up(world(pending(1, tolerations=everything), nodes=(draining,)), [GENERAL])
    assert result.placements == {}
    assert verdicts(result) == {Verdict.NEW_VM: 1}


def test_a_pending_pod_with_an_unreadable_constraint_is_not_planned_and_says_why() -> None:
    unread = ("spec.tolerations[0].value: expected a string, got int",)
    pods = pending(2, unmodelled=unread) + pending(1, prefix="ok")
    result = plan_scale_up(world(pods, nodes=(node("n1"),)), [GENERAL])
    assert verdicts(result) == {Verdict.UNMODELLED: 2, Verdict.FITS_EXISTING: 1}
    (explanation,) = [e for e in result.explanations if e.verdict is Verdict.UNMODELLED]
    assert "spec.tolerations[0].value" in explanation.message
    assert result.launches == ()


def test_unreadable_metadata_or_status_does_not_stop_planning() -> None:
    neutral = ("metadata.annotations.x: expected a string, got int", "status.phase: odd")
    (pod,) = pending(1, unmodelled=neutral)
    assert placement_unknowns(pod) == ()
    result = plan_scale_up(world([pod]), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}


def test_a_bound_pod_with_unreadable_fields_counts_and_keeps_its_node() -> None:
    bound = Pod(
        "default",
        "odd",
        requests=Resources.of(3500, GI),
        node_name="n1",
        phase=PodPhase.RUNNING,
        owner_kind="ReplicaSet",
        unmodelled=("spec.containers[1].resources.requests.cpu: 'lots' is not a quantity",),
    )
    result = plan_scale_up(world([bound, *pending(1)], nodes=(node("n1"),)), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}  # what could be read still fills the node
    blocker = pod_blocker(bound)
    assert blocker is not None and "spec.containers[1].resources.requests.cpu" in blocker.reason
    assert pod_blocker(replace(bound, unmodelled=())) is None


def test_a_daemonset_whose_placement_cannot_be_read_counts_on_every_node() -> None:
    template = Pod(
        "kube-system",
        "agent",
        requests=Resources.of(100, GI),
        owner_kind="DaemonSet",
        node_selector={"gpu": "yes"},
        unmodelled=("spec.template.spec.tolerations[0].key: expected a string, got int",),
    )
    plain = DaemonSet("kube-system", "agent", replace(template, unmodelled=()))
    unread = DaemonSet("kube-system", "agent", template)
    assert daemonset_overhead({"pool": "general"}, (), (plain,)) == Resources()
    assert daemonset_overhead({"pool": "general"}, (), (unread,)) == Resources.of(100, GI, 1)
