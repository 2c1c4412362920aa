"""InterPodAffinity's filter, as a table of upstream cases.

Inputs and expected outcomes are those of ``TestRequiredAffinitySingleNode`` and
``TestRequiredAffinityMultipleNodes`` in kubernetes/kubernetes
``pkg/scheduler/framework/plugins/interpodaffinity/filtering_test.go`` (with its Namespace
labels: ``subteam{1,2}.team1`` carry ``team: team1``, ``subteam{1,2}.team2`` ``team: team2``).
Upstream's empty namespace is ``default`` here. Cases about invalid label syntax are left
out: the converter refuses such pods before the filter sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import count

import pytest
from topology_cases import exists, filters_over, labels, pod, term

from autoscaler.core.interpod import AFFINITY_MISMATCH
from autoscaler.core.model import LabelSelector, Pod, Requirement
from autoscaler.core.predicates import ANTI_AFFINITY_MISMATCH, EXISTING_ANTI_AFFINITY

AFF, ANTI, EXISTING = AFFINITY_MISMATCH, ANTI_AFFINITY_MISMATCH, EXISTING_ANTI_AFFINITY
NAMESPACES = {
    "subteam1.team1": {"team": "team1"},
    "subteam2.team1": {"team": "team1"},
    "subteam1.team2": {"team": "team2"},
    "subteam2.team2": {"team": "team2"},
}
TEAM1 = LabelSelector(match_expressions=(Requirement("team", "In", ("team1",)),))
SCAN = {"service": "securityscan"}
S1 = {"security": "S1"}
NODE1 = [("node1", {"region": "r1", "zone": "z11"})]
_NAMES = count()


def existing(node: str, lbls: dict[str, str] | None = None, **kw: object) -> Pod:
    return pod(f"e{next(_NAMES)}", lbls if lbls is not None else {}, node=node, **kw)


def incoming(lbls: dict[str, str], namespace: str = "default", **kw: object) -> Pod:
    return pod("incoming", lbls, namespace=namespace, **kw)


@dataclass
class Case:
    name: str
    pod: Pod
    pods: list[Pod]
    nodes: list  # type: ignore[type-arg]
    want: list[str | None] = field(default_factory=list)


IN_SCAN_REGION = term("service", "In", ("securityscan", "value2"), "region")
ANTI_VIRUS_NODE = term("service", "In", ("antivirusscan", "value2"), "node")
SCAN_ZONE = term("service", "In", ("securityscan", "value2"), "zone")

SINGLE = [
    Case(
        "affinity In matches the existing pod",
        incoming(S1, required_affinity=(IN_SCAN_REGION,)),
        [existing("node1", SCAN)],
        NODE1,
        [None],
    ),
    Case(
        "affinity NotIn matches the existing pod",
        incoming(S1, required_affinity=(term("service", "NotIn", ("securityscan3",), "region"),)),
        [existing("node1", SCAN)],
        NODE1,
        [None],
    ),
    Case(
        "affinity not satisfied because of a different namespace",
        incoming(
            S1,
            required_affinity=(
                term("service", "In", ("securityscan", "value2"), "", ("DiffNameSpace",)),
            ),
        ),
        [existing("node1", SCAN, namespace="ns")],
        NODE1,
        [AFF],
    ),
    Case(
        "affinity with different operators in multiple terms",
        incoming(
            S1,
            required_affinity=(
                exists("service", "region"),
                term("service", "In", ("securityscan",), "region"),
            ),
        ),
        [existing("node1", SCAN)],
        NODE1,
        [None],
    ),
    Case(
        "terms are ANDed: one term does not match",
        incoming(
            S1,
            required_affinity=(
                exists("service", "region"),
                term("service", "In", ("securityscan2",), "region"),
            ),
        ),
        [existing("node1", SCAN)],
        NODE1,
        [AFF],
    ),
    Case(
        "affinity and anti-affinity both satisfied",
        incoming(
            S1, required_affinity=(IN_SCAN_REGION,), required_anti_affinity=(ANTI_VIRUS_NODE,)
        ),
        [existing("node1", SCAN)],
        NODE1,
        [None],
    ),
    Case(
        "affinity, anti-affinity and the existing pod's anti-affinity satisfied",
        incoming(
            S1, required_affinity=(IN_SCAN_REGION,), required_anti_affinity=(ANTI_VIRUS_NODE,)
        ),
        [existing("node1", SCAN, required_anti_affinity=(ANTI_VIRUS_NODE,))],
        NODE1,
        [None],
    ),
    Case(
        "affinity satisfied, anti-affinity not",
        incoming(S1, required_affinity=(IN_SCAN_REGION,), required_anti_affinity=(SCAN_ZONE,)),
        [existing("node1", SCAN)],
        NODE1,
        [ANTI],
    ),
    Case(
        "the existing pod's anti-affinity selects the incoming pod",
        incoming(
            SCAN, required_affinity=(IN_SCAN_REGION,), required_anti_affinity=(ANTI_VIRUS_NODE,)
        ),
        [existing("node1", SCAN, required_anti_affinity=(SCAN_ZONE,))],
        NODE1,
        [EXISTING],
    ),
    Case(
        "a pod whose own labels do not match its affinity, with the match on another node",
        incoming(
            SCAN,
            required_affinity=(term("service", "NotIn", ("securityscan", "value2"), "region"),),
        ),
        [existing("node2", {"service": "securityscan"})],
        NODE1,
        [AFF],
    ),
    Case(
        "existing anti-affinity holds for a pod without constraints",
        incoming(SCAN),
        [existing("node1", SCAN, required_anti_affinity=(SCAN_ZONE,))],
        NODE1,
        [EXISTING],
    ),
    Case(
        "existing anti-affinity NotIn lets a pod without constraints in",
        incoming(SCAN),
        [
            existing(
                "node1",
                SCAN,
                required_anti_affinity=(
                    term("service", "NotIn", ("securityscan", "value2"), "zone"),
                ),
            )
        ],
        NODE1,
        [None],
    ),
    Case(
        "incoming anti-affinity selects the existing pod",
        incoming(
            SCAN,
            required_anti_affinity=(exists("service", "region"), exists("security", "region")),
        ),
        [existing("node1", S1, required_anti_affinity=(exists("security", "zone"),))],
        NODE1,
        [ANTI],
    ),
    Case(
        "symmetry a1",
        incoming(
            SCAN, required_anti_affinity=(exists("service", "zone"), exists("security", "zone"))
        ),
        [existing("node1", S1, required_anti_affinity=(exists("security", "zone"),))],
        NODE1,
        [ANTI],
    ),
    Case(
        "symmetry a2",
        incoming(S1, required_anti_affinity=(exists("security", "zone"),)),
        [
            existing(
                "node1",
                SCAN,
                required_anti_affinity=(exists("service", "zone"), exists("security", "zone")),
            )
        ],
        NODE1,
        [EXISTING],
    ),
    Case(
        "symmetry b1",
        incoming(
            labels("abc", "xyz"),
            required_anti_affinity=(exists("abc", "zone"), exists("def", "zone")),
        ),
        [
            existing(
                "node1",
                labels("def", "xyz"),
                required_anti_affinity=(exists("abc", "zone"), exists("def", "zone")),
            )
        ],
        NODE1,
        [ANTI],
    ),
    Case(
        "symmetry b2",
        incoming(
            labels("def", "xyz"),
            required_anti_affinity=(exists("abc", "zone"), exists("def", "zone")),
        ),
        [
            existing(
                "node1",
                labels("abc", "xyz"),
                required_anti_affinity=(exists("abc", "zone"), exists("def", "zone")),
            )
        ],
        NODE1,
        [ANTI],
    ),
    Case(
        "affinity with a matching namespaceSelector",
        incoming(
            S1,
            required_affinity=(
                term("service", "In", ("securityscan", "value2"), "region", (), TEAM1),
            ),
        ),
        [existing("node1", SCAN, namespace="subteam1.team1")],
        NODE1,
        [None],
    ),
    Case(
        "affinity with a namespaceSelector that does not match",
        incoming(
            S1,
            required_affinity=(
                term("service", "In", ("securityscan", "value2"), "region", (), TEAM1),
            ),
        ),
        [existing("node1", SCAN, namespace="subteam1.team2")],
        NODE1,
        [AFF],
    ),
    Case(
        "anti-affinity with a matching namespaceSelector",
        incoming(
            S1,
            namespace="subteam1.team1",
            required_anti_affinity=(
                term("service", "In", ("securityscan", "value2"), "zone", (), TEAM1),
            ),
        ),
        [existing("node1", SCAN, namespace="subteam2.team1")],
        NODE1,
        [ANTI],
    ),
    Case(
        "anti-affinity with a namespaceSelector matching all namespaces",
        incoming(
            S1,
            namespace="subteam1.team1",
            required_anti_affinity=(
                term("service", "In", ("securityscan", "value2"), "zone", (), LabelSelector()),
            ),
        ),
        [existing("node1", SCAN, namespace="subteam2.team1")],
        NODE1,
        [ANTI],
    ),
    Case(
        "anti-affinity with a namespaceSelector that does not match",
        incoming(
            S1,
            namespace="subteam1.team1",
            required_anti_affinity=(
                term("service", "In", ("securityscan", "value2"), "zone", (), TEAM1),
            ),
        ),
        [existing("node1", SCAN, namespace="subteam1.team2")],
        NODE1,
        [None],
    ),
]

CHINA = {"region": "China"}
CHINA_AZ1 = {"region": "China", "az": "az1"}
INDIA = {"region": "India"}
FOO_BAR = {"foo": "bar"}
GROUP = {"foo": "bar", "service": "securityscan"}
GROUP_TERMS = (
    term("foo", "In", ("bar",), "zone"),
    term("service", "In", ("securityscan",), "zone"),
)
R1 = [
    ("nodeA", {"region": "r1", "zone": "z1", "hostname": "nodeA"}),
    ("nodeB", {"region": "r1", "zone": "z1", "hostname": "nodeB"}),
]

MULTIPLE = [
    Case(
        "every node of the matching pod's region fits",
        incoming({}, required_affinity=(term("foo", "In", ("bar",), "region"),)),
        [existing("node1", FOO_BAR)],
        [("node1", CHINA), ("node2", CHINA_AZ1), ("node3", INDIA)],
        [None, None, AFF],
    ),
    Case(
        "the first pod of a group with affinity to itself goes anywhere",
        incoming(GROUP, required_affinity=GROUP_TERMS),
        [existing("nodeA", FOO_BAR)],
        [
            ("nodeA", {"zone": "az1", "hostname": "h1"}),
            ("nodeB", {"zone": "az2", "hostname": "h2"}),
        ],
        [None, None],
    ),
    Case(
        "the first pod of a group needs nodes with the topology keys",
        incoming(GROUP, required_affinity=GROUP_TERMS),
        [existing("nodeA", FOO_BAR)],
        [
            ("nodeA", {"zoneLabel": "az1", "hostname": "h1"}),
            ("nodeB", {"zoneLabel": "az2", "hostname": "h2"}),
        ],
        [AFF, AFF],
    ),
    Case(
        "anti-affinity covers every node of the matching pod's region",
        incoming({}, required_anti_affinity=(term("foo", "In", ("abc",), "region"),)),
        [existing("nodeA", {"foo": "abc"})],
        [
            ("nodeA", {"region": "r1", "hostname": "nodeA"}),
            ("nodeB", {"region": "r1", "hostname": "nodeB"}),
        ],
        [ANTI, ANTI],
    ),
    Case(
        "anti-affinity refuses when any term matches",
        incoming(
            {},
            required_anti_affinity=(
                term("foo", "In", ("abc",), "region"),
                term("service", "In", ("securityscan",), "zone"),
            ),
        ),
        [existing("nodeA", {"foo": "abc", "service": "securityscan"})],
        [
            ("nodeA", {"region": "r1", "zone": "z1", "hostname": "nodeA"}),
            ("nodeB", {"region": "r1", "zone": "z2", "hostname": "nodeB"}),
        ],
        [ANTI, ANTI],
    ),
    Case(
        "anti-affinity: another region fits",
        incoming({}, required_anti_affinity=(term("foo", "In", ("abc",), "region"),)),
        [existing("nodeA", {"foo": "abc"})],
        [("nodeA", CHINA), ("nodeB", CHINA_AZ1), ("nodeC", INDIA)],
        [ANTI, ANTI, None],
    ),
    Case(
        "anti-affinity: a pod of another namespace does not count",
        incoming(
            {"foo": "123"},
            namespace="NS1",
            required_anti_affinity=(term("foo", "In", ("bar",), "region"),),
        ),
        [
            existing("nodeA", FOO_BAR, namespace="NS1"),
            existing(
                "nodeC",
                {},
                namespace="NS2",
                required_anti_affinity=(term("foo", "In", ("123",), "region"),),
            ),
        ],
        [("nodeA", CHINA), ("nodeB", CHINA_AZ1), ("nodeC", INDIA)],
        [ANTI, ANTI, None],
    ),
    Case(
        "an existing pod's term on a key no node has refuses nothing",
        incoming(labels("foo")),
        [existing("nodeA", required_anti_affinity=(exists("foo", "invalid-node-label"),))],
        R1,
        [None, None],
    ),
    Case(
        "an incoming term on a key no node has refuses nothing",
        incoming({}, required_anti_affinity=(exists("foo", "invalid-node-label"),)),
        [existing("nodeA", labels("foo"))],
        R1,
        [None, None],
    ),
]


@pytest.mark.parametrize("case", SINGLE + MULTIPLE, ids=lambda c: c.name)
def test_upstream_filter_cases(case: Case) -> None:
    filters = filters_over(case.nodes, case.pods, NAMESPACES)
    got = [filters.failure(case.pod, name) for name, *_ in case.nodes]
    assert got == case.want


def test_the_first_pod_of_a_group_only_while_no_member_is_placed() -> None:
    """Once the first pod with affinity to itself is placed, the others must follow it."""
    nodes = [("a", {"zone": "z1"}), ("b", {"zone": "z2"})]
    filters = filters_over(nodes, [])
    members = [incoming(GROUP, required_affinity=GROUP_TERMS) for _ in range(2)]
    assert [filters.failure(members[0], n) for n in ("a", "b")] == [None, None]
    filters.placed([members[0]], "a")
    assert [filters.failure(members[1], n) for n in ("a", "b")] == [None, AFF]
