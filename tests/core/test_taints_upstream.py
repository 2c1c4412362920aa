"""Tolerations, taints and cordons as kube-scheduler judges them; the cases are upstream's.

- ``staging/src/k8s.io/api/core/v1/toleration_test.go`` (TestTolerationToleratesTaint)
- ``pkg/scheduler/framework/plugins/tainttoleration/taint_toleration_test.go``
  (TestTaintTolerationFilter, with the numeric Gt/Lt operators enabled)
- ``pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable_test.go``

Pods are written as the API server returns them and go through the real converter.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.api.resources import Resources
from autoscaler.core.model import Node, Taint, TaintEffect, Toleration
from autoscaler.core.predicates import UNSCHEDULABLE, NodeState, taint_mismatch, tolerates
from autoscaler.kube.convert import node_from_dict, pod_from_dict

NS, NE, PNS = TaintEffect.NO_SCHEDULE, TaintEffect.NO_EXECUTE, TaintEffect.PREFER_NO_SCHEDULE
SLA = "node.kubernetes.io/sla"


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        (Toleration("foo", "Exists", effect=NS), Taint("foo", NS), True),
        (Toleration("foo", "Exists", effect=NS), Taint("foo", NS, "bar"), True),
        (Toleration("", "Exists", effect=NS), Taint("foo", NS, "bar"), True),
        (Toleration("foo", "Equal", "bar", NS), Taint("foo", NS, "bar"), True),
        (Toleration("foo", "Equal", "value1", NS), Taint("foo", NS, "value2"), False),
        (Toleration("foo", "Equal", "bar", NS), Taint("foo", NE, "bar"), False),
        (Toleration(SLA, "Gt", "950", NS), Taint(SLA, NS, "800"), False),
        (Toleration(SLA, "Gt", "750", NS), Taint(SLA, NS, "950"), True),
        (Toleration(SLA, "Lt", "800", NS), Taint(SLA, NS, "950"), False),
        (Toleration(SLA, "Lt", "950", NS), Taint(SLA, NS, "800"), True),
        (Toleration(SLA, "Gt", "950", NS), Taint(SLA, NS, "950"), False),
        (Toleration(SLA, "Gt", "950", NS), Taint(SLA, NS, "high"), False),
        (Toleration("test-key", "Gt", "-100", NS), Taint("test-key", NS, "-200"), False),
        (
            Toleration("test-key", "Gt", "9223372036854775806", NS),
            Taint("test-key", NS, "100"),
            False,
        ),
    ],
)
def test_toleration_tolerates_taint(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    """toleration_test.go TestTolerationToleratesTaint."""
    assert tolerates(toleration, taint) is tolerated


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        # An empty operator means Equal; an empty key matches any key (ToleratesTaint's rules).
        (Toleration("foo", "", "bar"), Taint("foo", NE, "bar"), True),
        (Toleration("", "Equal", "bar"), Taint("foo", NS, "bar"), True),
        (Toleration("foo", "Near", "bar"), Taint("foo", NS, "bar"), False),
        (Toleration("foo", "Gt", "1_0"), Taint("foo", NS, "20"), False),  # ParseInt refuses
        (Toleration("foo", "Lt", "+30"), Taint("foo", NS, "-9223372036854775808"), True),
        (Toleration("foo", "Lt", "30"), Taint("foo", NS, "9223372036854775808"), False),
        (Toleration("foo", "Exists", effect="Sometimes"), Taint("foo", "Sometimes"), True),
    ],
)
def test_toleration_corner_cases(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert tolerates(toleration, taint) is tolerated


def pod_with(tolerations: list[dict[str, Any]]) -> Any:
    return pod_from_dict(
        {"metadata": {"name": "pod1", "namespace": "default"}, "spec": {"tolerations": tolerations}}
    )


def node_with(taints: list[dict[str, Any]], unschedulable: bool = False) -> Node:
    return node_from_dict(
        {
            "metadata": {"name": "nodeA"},
            "spec": {"taints": taints, "unschedulable": unschedulable},
            "status": {"allocatable": {"pods": "10"}},
        }
    )


def taint(key: str, value: str, effect: str) -> dict[str, str]:
    return {"key": key, "value": value, "effect": effect}


@pytest.mark.parametrize(
    ("tolerations", "taints", "fits"),
    [
        # A pod having no tolerations can't be scheduled onto a node with nonempty taints
        ([], [taint("dedicated", "user1", "NoSchedule")], False),
        # A pod which can be scheduled on a dedicated node assigned to user1 (NoSchedule)
        (
            [{"key": "dedicated", "value": "user1", "effect": "NoSchedule"}],
            [taint("dedicated", "user1", "NoSchedule")],
            True,
        ),
        # ... but not on one assigned to user2
        (
            [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
            [taint("dedicated", "user1", "NoSchedule")],
            False,
        ),
        # A toleration with operator Exists tolerates the taint
        (
            [{"key": "foo", "operator": "Exists", "effect": "NoSchedule"}],
            [taint("foo", "bar", "NoSchedule")],
            True,
        ),
        # Multiple tolerations, multiple taints, all tolerated
        (
            [
                {"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"},
                {"key": "foo", "operator": "Exists", "effect": "NoSchedule"},
            ],
            [taint("dedicated", "user2", "NoSchedule"), taint("foo", "bar", "NoSchedule")],
            True,
        ),
        # Key and value match but the (non-empty) effect does not
        (
            [{"key": "foo", "operator": "Equal", "value": "bar", "effect": "PreferNoSchedule"}],
            [taint("foo", "bar", "NoSchedule")],
            False,
        ),
        # Key and value match, the toleration's effect is empty
        (
            [{"key": "foo", "operator": "Equal", "value": "bar"}],
            [taint("foo", "bar", "NoSchedule")],
            True,
        ),
        # Key and value do not match, but the taint is only PreferNoSchedule
        (
            [{"key": "dedicated", "operator": "Equal", "value": "user2", "effect": "NoSchedule"}],
            [taint("dedicated", "user1", "PreferNoSchedule")],
            True,
        ),
        # No toleration, taint PreferNoSchedule
        ([], [taint("dedicated", "user1", "PreferNoSchedule")], True),
        # Gt below the threshold
        (
            [
                {
                    "key": "node.example.com/priority-level",
                    "operator": "Gt",
                    "value": "950",
                    "effect": "NoSchedule",
                }
            ],
            [taint("node.example.com/priority-level", "800", "NoSchedule")],
            False,
        ),
        # Gt above the threshold
        (
            [{"key": SLA, "operator": "Gt", "value": "750", "effect": "NoSchedule"}],
            [taint(SLA, "950", "NoSchedule")],
            True,
        ),
        # Lt above the threshold
        (
            [
                {
                    "key": "node.example.com/priority-level",
                    "operator": "Lt",
                    "value": "800",
                    "effect": "NoSchedule",
                }
            ],
            [taint("node.example.com/priority-level", "950", "NoSchedule")],
            False,
        ),
        # Lt below the threshold
        (
            [{"key": SLA, "operator": "Lt", "value": "950", "effect": "NoSchedule"}],
            [taint(SLA, "800", "NoSchedule")],
            True,
        ),
        # Gt against a non-numeric taint value
        (
            [{"key": SLA, "operator": "Gt", "value": "950", "effect": "NoSchedule"}],
            [taint(SLA, "high", "NoSchedule")],
            False,
        ),
    ],
)
def test_taint_toleration_filter(
    tolerations: list[dict[str, Any]], taints: list[dict[str, str]], fits: bool
) -> None:
    """taint_toleration_test.go TestTaintTolerationFilter."""
    pod, node = pod_with(tolerations), node_with(taints)
    assert pod.unmodelled == () and node.unmodelled == ()
    reason = NodeState.from_node(node, ()).static_failure(pod)
    assert (reason is None) is fits
    if not fits:
        assert reason is not None and reason.startswith("node(s) had untolerated taint {")


def test_a_taint_of_an_unknown_effect_blocks_like_no_schedule() -> None:
    node = node_with([taint("future", "x", "NoPlacement")])
    assert node.unmodelled and node.taints[0].effect == "NoPlacement"
    assert taint_mismatch(pod_with([]), node.taints) is not None
    tolerant = pod_with([{"key": "future", "operator": "Exists"}])
    assert taint_mismatch(tolerant, node.taints) is None


@pytest.mark.parametrize(
    ("tolerations", "unschedulable", "fits"),
    [
        ([], True, False),
        ([], False, True),
        ([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}], True, True),
        # Tolerating every taint tolerates the cordon too.
        ([{"operator": "Exists"}], True, True),
        ([{"key": "node.kubernetes.io/unschedulable", "effect": "NoExecute"}], True, False),
    ],
)
def test_node_unschedulable(
    tolerations: list[dict[str, Any]], unschedulable: bool, fits: bool
) -> None:
    """node_unschedulable_test.go TestNodeUnschedulable, and two more tolerations."""
    node = node_with([], unschedulable=unschedulable)
    reason = NodeState.from_node(node, ()).fit_failure(pod_with(tolerations))
    assert reason == (None if fits else UNSCHEDULABLE)


def test_a_node_that_takes_no_new_pods_refuses_even_tolerant_ones() -> None:
    state = NodeState("drained", Resources.of(pods=10), schedulable=False)
    assert state.static_failure(pod_with([{"operator": "Exists"}])) == UNSCHEDULABLE
