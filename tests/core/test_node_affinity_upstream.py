"""nodeSelector and required node affinity as kube-scheduler matches them; upstream's cases.

- ``pkg/scheduler/framework/plugins/nodeaffinity/node_affinity_test.go`` (TestNodeAffinity,
  the Filter cases; the three cases with a scheduler-profile ``AddedAffinity`` are not
  modelled: a tenant's scheduler profile is not visible to the autoscaler)
- ``staging/src/k8s.io/component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity_test.go``
  (TestNodeSelectorMatch, TestNodeSelectorRequirementsAsSelector,
  TestPodMatchesNodeSelectorAndAffinityTerms), kubernetes v1.34

Pods are written as the API server returns them and go through the real converter.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.core.labels import label_key_error, requirement_error, term_error
from autoscaler.core.model import NodeSelectorTerm, Requirement
from autoscaler.core.predicates import AFFINITY_MISMATCH, SELECTOR_MISMATCH, selector_mismatch
from autoscaler.kube.convert import pod_from_dict

NAME = "metadata.name"


def expr(key: str, op: str, *values: str) -> dict[str, Any]:
    return (
        {"key": key, "operator": op, "values": list(values)}
        if values
        else {"key": key, "operator": op}
    )


def term(
    exprs: list[dict[str, Any]] | None = None, fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if exprs is not None:
        result["matchExpressions"] = exprs
    if fields is not None:
        result["matchFields"] = fields
    return result


def pod(
    node_selector: dict[str, str] | None = None,
    terms: list[dict[str, Any]] | None = None,
    affinity: dict[str, Any] | None = None,
) -> Any:
    spec: dict[str, Any] = {}
    if node_selector is not None:
        spec["nodeSelector"] = node_selector
    if terms is not None:
        affinity = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
            }
        }
    if affinity is not None:
        spec["affinity"] = affinity
    obj = {"metadata": {"name": "p", "namespace": "default"}, "spec": spec}
    converted = pod_from_dict(obj)
    assert converted.unmodelled == ()
    return converted


GT_0204 = [term([expr("kernel-version", "Gt", "0204")])]

# (name, pod, node labels, node name, matches)
FILTER_CASES: list[tuple[str, Any, dict[str, str], str, bool]] = [
    ("no selector", pod(), {}, "", True),
    ("missing labels", pod({"foo": "bar"}), {}, "", False),
    ("same labels", pod({"foo": "bar"}), {"foo": "bar"}, "", True),
    ("node labels are superset", pod({"foo": "bar"}), {"foo": "bar", "baz": "blah"}, "", True),
    ("node labels are subset", pod({"foo": "bar", "baz": "blah"}), {"foo": "bar"}, "", False),
    (
        "In matches",
        pod(terms=[term([expr("foo", "In", "bar", "value2")])]),
        {"foo": "bar"},
        "",
        True,
    ),
    ("Gt matches", pod(terms=GT_0204), {"kernel-version": "0206"}, "", True),
    (
        "NotIn matches",
        pod(terms=[term([expr("mem-type", "NotIn", "DDR", "DDR2")])]),
        {"mem-type": "DDR3"},
        "",
        True,
    ),
    (
        "Exists matches",
        pod(terms=[term([expr("GPU", "Exists")])]),
        {"GPU": "NVIDIA-GRID-K1"},
        "",
        True,
    ),
    (
        "In does not match",
        pod(terms=[term([expr("foo", "In", "value1", "value2")])]),
        {"foo": "bar"},
        "",
        False,
    ),
    (
        "nil NodeSelectorTerms",
        pod(affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}}),
        {"foo": "bar"},
        "",
        False,
    ),
    ("empty NodeSelectorTerms", pod(terms=[]), {"foo": "bar"}, "", False),
    ("empty MatchExpressions", pod(terms=[term([])]), {"foo": "bar"}, "", False),
    ("no affinity", pod(), {"foo": "bar"}, "", True),
    (
        "affinity with nil NodeSelector",
        pod(affinity={"nodeAffinity": {}}),
        {"foo": "bar"},
        "",
        True,
    ),
    (
        "multiple matchExpressions ANDed, match",
        pod(terms=[term([expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER")])]),
        {"GPU": "NVIDIA-GRID-K1"},
        "",
        True,
    ),
    (
        "multiple matchExpressions ANDed, no match",
        pod(terms=[term([expr("GPU", "Exists"), expr("GPU", "In", "AMD", "INTER")])]),
        {"GPU": "NVIDIA-GRID-K1"},
        "",
        False,
    ),
    (
        "multiple NodeSelectorTerms ORed",
        pod(
            terms=[
                term([expr("foo", "In", "bar", "value2")]),
                term([expr("diffkey", "In", "wrong", "value2")]),
            ]
        ),
        {"foo": "bar"},
        "",
        True,
    ),
    (
        "affinity and nodeSelector both satisfied",
        pod({"foo": "bar"}, [term([expr("foo", "Exists")])]),
        {"foo": "bar"},
        "",
        True,
    ),
    (
        "affinity matches, nodeSelector does not",
        pod({"foo": "bar"}, [term([expr("foo", "Exists")])]),
        {"foo": "barrrrrr"},
        "",
        False,
    ),
    (
        "invalid value in an affinity term",
        pod(terms=[term([expr("foo", "NotIn", "invalid value: ___@#$%^")])]),
        {"foo": "bar"},
        "",
        False,
    ),
    (
        "matchFields In matches",
        pod(terms=[term(fields=[expr(NAME, "In", "node1")])]),
        {},
        "node1",
        True,
    ),
    (
        "matchFields In does not match",
        pod(terms=[term(fields=[expr(NAME, "In", "node1")])]),
        {},
        "node2",
        False,
    ),
    (
        "two terms: matchFields does not match, matchExpressions does",
        pod(
            terms=[
                term(fields=[expr(NAME, "In", "node1"), expr(NAME, "In", "node2")]),
                term([expr("foo", "In", "bar")]),
            ]
        ),
        {"foo": "bar"},
        "node2",
        True,
    ),
    (
        "one term: matchFields does not match, matchExpressions does",
        pod(terms=[term([expr("foo", "In", "bar")], [expr(NAME, "In", "node1")])]),
        {"foo": "bar"},
        "node2",
        False,
    ),
    (
        "one term: both match",
        pod(terms=[term([expr("foo", "In", "bar")], [expr(NAME, "In", "node1")])]),
        {"foo": "bar"},
        "node1",
        True,
    ),
    (
        "two terms: neither matches",
        pod(
            terms=[
                term(fields=[expr(NAME, "In", "node1")]),
                term([expr("foo", "In", "not-match-to-bar")]),
            ]
        ),
        {"foo": "bar"},
        "node2",
        False,
    ),
    (
        "two terms of node name affinity",
        pod(
            terms=[
                term(fields=[expr(NAME, "In", "node1")]),
                term(fields=[expr(NAME, "In", "node2")]),
            ]
        ),
        {},
        "node2",
        True,
    ),
    (
        "two conflicting matchFields requirements",
        pod(terms=[term(fields=[expr(NAME, "In", "node1"), expr(NAME, "In", "node2")])]),
        {"foo": "bar"},
        "node2",
        False,
    ),
    (
        "nodeSelector matches without PreFilter",
        pod({"foo": "bar"}),
        {"foo": "bar", "baz": "blah"},
        "",
        True,
    ),
    (
        "node affinity matches without PreFilter",
        pod(terms=[term([expr("GPU", "Exists"), expr("GPU", "NotIn", "AMD", "INTER")])]),
        {"GPU": "NVIDIA-GRID-K1"},
        "",
        True,
    ),
    # nodeaffinity_test.go TestNodeSelectorMatch
    (
        "node matches field selector, but not labels",
        pod(terms=[term([expr("label_1", "In", "label_1_val")], [expr(NAME, "In", "host_1")])]),
        {},
        "host_1",
        False,
    ),
    (
        "node matches field selector and label selector",
        pod(terms=[term([expr("label_1", "In", "label_1_val")], [expr(NAME, "In", "host_1")])]),
        {"label_1": "label_1_val"},
        "host_1",
        True,
    ),
    (
        "second term matches",
        pod(
            terms=[
                term([expr("label_1", "In", "label_1_val")]),
                term(fields=[expr(NAME, "In", "host_1")]),
            ]
        ),
        {},
        "host_1",
        True,
    ),
    (
        "invalid terms fail, a valid term still matches",
        pod(
            terms=[
                term(fields=[expr(NAME, "In", "host_1", "host_2")]),
                term([expr("label_1", "In", "label_1_val")], [expr(NAME, "In", "host_1")]),
                term([expr("invalid key", "In", "label_value")]),
            ]
        ),
        {"label_1": "label_1_val"},
        "host_1",
        True,
    ),
    (
        "invalid terms fail, and nothing else matches",
        pod(
            terms=[
                term(fields=[expr(NAME, "In", "host_1", "host_2")]),
                term([expr("invalid key", "In", "label_value")]),
            ]
        ),
        {"invalid key": "label_value"},
        "host_1",
        False,
    ),
]


@pytest.mark.parametrize(
    ("pod_", "labels", "node_name", "matches"),
    [case[1:] for case in FILTER_CASES],
    ids=[case[0] for case in FILTER_CASES],
)
def test_node_affinity_filter(
    pod_: Any, labels: dict[str, str], node_name: str, matches: bool
) -> None:
    reason = selector_mismatch(pod_, labels, node_name)
    assert (reason is None) is matches
    assert reason in (None, SELECTOR_MISMATCH, AFFINITY_MISMATCH)


@pytest.mark.parametrize(
    ("requirement", "valid"),
    [
        (Requirement("foo", "In", ("bar", "baz")), True),
        (Requirement("foo", "Exists", ("bar", "baz")), False),
        (Requirement("foo", "Gt", ("1",)), True),
        (Requirement("bar", "Lt", ("7",)), True),
        (Requirement("baz", "invalid", ("5",)), False),
        # labels.NewRequirement's other rules
        (Requirement("foo", "In", ()), False),
        (Requirement("foo", "NotIn", ("a@b",)), False),
        (Requirement("foo", "Gt", ("1", "2")), False),
        (Requirement("foo", "Lt", ("1.5",)), False),
        (Requirement("foo", "DoesNotExist", ()), True),
        (Requirement("example.com/" + "a" * 63, "Exists"), True),
        (Requirement("example.com/" + "a" * 64, "Exists"), False),
        (Requirement("a" * 254 + "/x", "Exists"), False),
        (Requirement("a/b/c", "Exists"), False),
        (Requirement("/x", "Exists"), False),
        (Requirement("foo", "In", ("v" * 64,)), False),
        (Requirement("foo", "In", ("",)), True),
    ],
)
def test_requirement_parses_as_label_selector(requirement: Requirement, valid: bool) -> None:
    """TestNodeSelectorRequirementsAsSelector, and labels.NewRequirement's rules."""
    assert (requirement_error(requirement) is None) is valid


def test_an_empty_term_is_valid_and_matches_nothing() -> None:
    empty = NodeSelectorTerm()
    assert term_error(empty) is None
    assert selector_mismatch(pod(terms=[{}]), {"a": "b"}, "n") == AFFINITY_MISMATCH


@pytest.mark.parametrize(
    ("fields", "node_name", "matches"),
    [
        # A field the node does not have reads as "" (fields.Set.Get).
        ([expr("metadata.namespace", "In", "")], "n1", True),
        ([expr("metadata.namespace", "NotIn", "x")], "n1", True),
        ([expr("metadata.namespace", "In", "x")], "n1", False),
        ([expr(NAME, "NotIn", "n2")], "n1", True),
        ([expr(NAME, "Exists")], "n1", False),  # only In and NotIn parse for fields
    ],
)
def test_match_fields(fields: list[dict[str, Any]], node_name: str, matches: bool) -> None:
    reason = selector_mismatch(pod(terms=[term(fields=fields)]), {}, node_name)
    assert (reason is None) is matches


def test_a_node_not_created_yet_is_in_no_list_of_names() -> None:
    assert selector_mismatch(pod(terms=[term(fields=[expr(NAME, "In", "n1")])]), {}, None)
    assert (
        selector_mismatch(pod(terms=[term(fields=[expr(NAME, "NotIn", "n1")])]), {}, None) is None
    )


def test_label_keys() -> None:
    assert label_key_error("kubernetes.io/hostname") is None
    assert label_key_error("invalid key") is not None
    assert label_key_error("Example.com/x") is not None  # the prefix is a lower-case DNS name
