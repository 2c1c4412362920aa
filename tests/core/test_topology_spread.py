"""PodTopologySpread's filter, as a table of upstream cases.

Inputs and expected outcomes are those of ``TestSingleConstraint`` and
``TestMultipleConstraints`` in kubernetes/kubernetes
``pkg/scheduler/framework/plugins/podtopologyspread/filtering_test.go`` (node inclusion
policies enabled). Upstream's Success is None here, Unschedulable is CONSTRAINTS_NOT_MATCH and
UnschedulableAndUnresolvable is NODE_LABEL_MISSING. Upstream's default namespace is ``default``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import pytest
from topology_cases import (
    BAR,
    FOO,
    NOTHING,
    filters_over,
    labels,
    node_in,
    node_not_in,
    pod,
    spread,
)

from autoscaler.core.model import Pod, Taint, TaintEffect
from autoscaler.core.topology_spread import CONSTRAINTS_NOT_MATCH, NODE_LABEL_MISSING

S, U, X = None, CONSTRAINTS_NOT_MATCH, NODE_LABEL_MISSING


def zone_node(name: str, zone: str) -> tuple[str, dict[str, str]]:
    return (name, {"zone": zone, "node": name})


FOUR = [zone_node(f"node-{n}", "zone1") for n in "ab"] + [
    zone_node(f"node-{n}", "zone2") for n in "xy"
]
NODE_ONLY = [(n, {"node": n}) for n in ("node-a", "node-b", "node-c")]
FOO_NODES = [
    ("node-a", {"node": "node-a", "foo": ""}),
    ("node-b", {"node": "node-b", "foo": ""}),
    ("node-x", {"node": "node-x", "foo": ""}),
    ("node-y", {"node": "node-y"}),
]
UNSCHEDULABLE_TAINT = (Taint("node.kubernetes.io/unschedulable", TaintEffect.NO_SCHEDULE),)
TAINTED_Y = [*FOO_NODES[:3], ("node-y", {"node": "node-y"}, UNSCHEDULABLE_TAINT)]


def on(*placements: str, ns: str = "default", lbl: str = "foo", **kw: object) -> list[Pod]:
    """Existing pods labelled ``lbl``, one per node name given (repeat a name for more)."""
    return [pod(f"e{next(_NAMES)}", labels(lbl), node=n, namespace=ns, **kw) for n in placements]


_NAMES = count()


@dataclass
class Case:
    name: str
    incoming: Pod
    nodes: list  # type: ignore[type-arg]
    existing: list[Pod] = field(default_factory=list)
    want: dict[str, str | None] = field(default_factory=dict)


def foo_pod(*constraints: object, lbls: dict[str, str] | None = None, **kw: object) -> Pod:
    return pod("p", lbls if lbls is not None else labels("foo"), topology_spread=constraints, **kw)


ALL_FIT = {"node-a": S, "node-b": S, "node-x": S, "node-y": S}
SPREAD_2103 = on("node-a", "node-a", "node-b", "node-y", "node-y", "node-y")

CASES = [
    Case("no existing pods", foo_pod(spread(1, "zone")), FOUR, [], ALL_FIT),
    Case(
        "no existing pods, incoming pod doesn't match itself",
        foo_pod(spread(1, "zone", BAR)),
        FOUR,
        [],
        ALL_FIT,
    ),
    Case(
        "existing pods in a different namespace do not count",
        foo_pod(spread(1, "zone")),
        FOUR,
        on("node-a", ns="ns1") + on("node-a", ns="ns2") + on("node-x", "node-y"),
        {"node-a": S, "node-b": S, "node-x": U, "node-y": U},
    ),
    Case(
        "existing pods do not match null selector",
        foo_pod(spread(1, "zone", NOTHING)),
        FOUR,
        on("node-x", "node-y"),
        ALL_FIT,
    ),
    Case(
        "pods spread across zones as 3/3, all nodes fit",
        foo_pod(spread(1, "zone")),
        FOUR,
        SPREAD_2103,
        ALL_FIT,
    ),
    Case(
        "pods spread across zones as 1/2 due to absence of label 'zone' on node-b",
        foo_pod(spread(1, "zone")),
        [
            zone_node("node-a", "zone1"),
            ("node-b", {"zon": "zone1", "node": "node-b"}),
            zone_node("node-x", "zone2"),
            zone_node("node-y", "zone2"),
        ],
        on("node-a", "node-b", "node-x", "node-y"),
        {"node-a": S, "node-b": X, "node-x": U, "node-y": U},
    ),
    Case(
        "pod cannot be scheduled as all nodes don't have label 'rack'",
        foo_pod(spread(1, "rack")),
        [zone_node("node-a", "zone1"), zone_node("node-x", "zone2")],
        [],
        {"node-a": X, "node-x": X},
    ),
    Case(
        "pods spread across nodes as 2/1/0/3, only node-x fits",
        foo_pod(spread(1, "node")),
        FOUR,
        SPREAD_2103,
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
    Case(
        "pods spread across nodes as 2/1/0/3, maxSkew is 2, node-b and node-x fit",
        foo_pod(spread(2, "node")),
        FOUR,
        SPREAD_2103,
        {"node-a": U, "node-b": S, "node-x": S, "node-y": U},
    ),
    Case(
        "pods spread across nodes as 2/1/0/3, but pod doesn't match itself",
        foo_pod(spread(1, "node"), lbls=labels("bar")),
        FOUR,
        SPREAD_2103,
        {"node-a": U, "node-b": S, "node-x": S, "node-y": U},
    ),
    Case(
        "incoming pod has nodeAffinity, pods spread as 2/~1~/~0~/3, hence node-a fits",
        foo_pod(spread(1, "node"), required_node_affinity=node_in("node", "node-a", "node-y")),
        FOUR,
        SPREAD_2103,
        {"node-a": S, "node-b": S, "node-x": S, "node-y": U},
    ),
    Case(
        "terminating Pods should be excluded",
        foo_pod(spread(1, "node")),
        [("node-a", {"node": "node-a"}), ("node-b", {"node": "node-b"})],
        [*on("node-a", terminating=True), pod("pb", labels("foo"), node="node-b")],
        {"node-a": S, "node-b": U},
    ),
    Case(
        "incoming pod has nodeAffinity, pods spread as 0/~2~/0/1, hence node-a fits",
        foo_pod(spread(1, "zone"), required_node_affinity=node_not_in("node", "node-b")),
        FOUR,
        on("node-b", "node-b", "node-y"),
        {"node-a": S, "node-b": S, "node-x": U, "node-y": U},
    ),
    Case(
        "2/2/1, maxSkew 2, fewer domains than minDomains: the third node fits",
        foo_pod(spread(2, "node", min_domains=4)),
        NODE_ONLY,
        on("node-a", "node-a", "node-b", "node-b", "node-c"),
        {"node-a": U, "node-b": U, "node-c": S},
    ),
    Case(
        "2/2/1, maxSkew 2, more domains than minDomains: all nodes fit",
        foo_pod(spread(2, "node", min_domains=2)),
        NODE_ONLY,
        on("node-a", "node-a", "node-b", "node-b", "node-c"),
        {"node-a": S, "node-b": S, "node-c": S},
    ),
    Case(
        "zones 2/1, maxSkew 2, fewer domains than minDomains: the third and fourth nodes fit",
        foo_pod(spread(2, "zone", min_domains=3)),
        FOUR,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": S},
    ),
    Case(
        "zones 2/1, maxSkew 2, more domains than minDomains: all nodes fit",
        foo_pod(spread(2, "zone", min_domains=1)),
        FOUR,
        on("node-a", "node-b", "node-y"),
        ALL_FIT,
    ),
    Case(
        "NodeAffinityPolicy honored with labelSelectors",
        foo_pod(spread(1, "node"), node_selector={"foo": ""}),
        FOO_NODES,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": S},
    ),
    Case(
        "NodeAffinityPolicy ignored with labelSelectors",
        foo_pod(spread(1, "node", honor_affinity=False), node_selector={"foo": ""}),
        FOO_NODES,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
    Case(
        "NodeAffinityPolicy honored with nodeAffinity",
        foo_pod(spread(1, "node"), required_node_affinity=node_in("foo", "")),
        FOO_NODES,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": S},
    ),
    Case(
        "NodeAffinityPolicy ignored with nodeAffinity",
        foo_pod(spread(1, "node", honor_affinity=False), required_node_affinity=node_in("foo", "")),
        FOO_NODES,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
    Case(
        "NodeTaintsPolicy honored",
        foo_pod(spread(1, "node", honor_taints=True)),
        TAINTED_Y,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": S},
    ),
    Case(
        "NodeTaintsPolicy ignored",
        foo_pod(spread(1, "node")),
        TAINTED_Y,
        on("node-a", "node-b", "node-y"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
    # TestMultipleConstraints
    Case(
        "two Constraints on zone and node, spreads = [3/3, 2/1/0/3]",
        foo_pod(spread(1, "zone"), spread(1, "node")),
        FOUR,
        SPREAD_2103,
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
    Case(
        "two Constraints on zone and node, spreads = [3/4, 2/1/0/4]",
        foo_pod(spread(1, "zone"), spread(1, "node")),
        FOUR,
        [*SPREAD_2103, *on("node-y")],
        {"node-a": U, "node-b": U, "node-x": U, "node-y": U},
    ),
    Case(
        "Constraints hold different labelSelectors, spreads = [1/0, 1/0/0/1]",
        foo_pod(spread(1, "zone", FOO), spread(1, "node", BAR), lbls=labels("foo", "bar")),
        FOUR,
        on("node-a") + on("node-y", lbl="bar"),
        {"node-a": U, "node-b": U, "node-x": S, "node-y": U},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_upstream_filter_cases(case: Case) -> None:
    filters = filters_over(case.nodes, case.existing)
    got = {name: filters.failure(case.incoming, name) for name in case.want}
    assert got == case.want


def test_a_placement_changes_the_counts_the_next_pod_sees() -> None:
    """Three pods with hostname spread (maxSkew 1) and two empty nodes: the third pod has
    nowhere to go once both nodes hold one."""
    filters = filters_over([("n1", {"node": "n1"}), ("n2", {"node": "n2"})], [])
    pods = [foo_pod(spread(1, "node")) for _ in range(3)]
    state = {name: name for name in ("n1", "n2")}
    assert filters.failure(pods[0], state["n1"]) is None
    filters.placed([pods[0]], "n1")
    assert filters.failure(pods[1], "n1") == U
    assert filters.failure(pods[1], "n2") is None
    filters.placed([pods[1]], "n2")
    assert filters.failure(pods[2], "n1") is None  # 1 + 1 - 1 <= 1
    filters.placed([pods[1]], "n2", -1)
    assert filters.failure(pods[2], "n1") == U
