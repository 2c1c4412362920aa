"""The scheduling simulation: bound pods and first-fit placement of pending pods."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.core.equivalence import group_equivalent
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Requirement,
    Taint,
    TaintEffect,
)
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import bound_pods_by_node, place, placement_order

GI = 2**30


def nodes(count: int, cpu: int = 4000, memory: int = 16 * GI, **labels: str) -> list[NodeState]:
    return [
        NodeState(
            f"n{i}",
            Resources.of(cpu, memory, 110),
            labels={HOSTNAME_LABEL: f"n{i}", **labels},
            node_name=f"n{i}",
        )
        for i in range(count)
    ]


def pods(
    count: int, prefix: str = "p", cpu: int = 1000, memory: int = GI, **kw: object
) -> list[Pod]:
    return [
        Pod("default", f"{prefix}{i}", requests=Resources.of(cpu, memory), **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]


def test_bound_pods_skip_terminal_and_unbound() -> None:
    running = Pod("d", "a", node_name="n1", phase=PodPhase.RUNNING)
    terminating = Pod("d", "b", node_name="n1", phase=PodPhase.RUNNING, terminating=True)
    done = Pod("d", "c", node_name="n1", phase=PodPhase.SUCCEEDED)
    failed = Pod("d", "e", node_name="n2", phase=PodPhase.FAILED)
    unbound = Pod("d", "f")
    by_node = bound_pods_by_node([running, terminating, done, failed, unbound])
    assert by_node == {"n1": [running, terminating]}


def test_first_fit_fills_nodes_in_the_given_order() -> None:
    cluster = nodes(3)
    placed = place(pods(6), cluster)
    assert [placed[f"default/p{i}"] for i in range(6)] == ["n0"] * 4 + ["n1"] * 2
    assert cluster[0].free.cpu == 0 and cluster[1].free.cpu == 2000
    assert cluster[2].pods == []


def test_pods_that_fit_nowhere_are_left_out() -> None:
    placed = place(pods(2, cpu=5000), nodes(2))
    assert placed == {}


def test_larger_pods_go_first() -> None:
    cluster = nodes(1)
    small = pods(4, "s", cpu=1000)
    large = pods(1, "l", cpu=3000)
    placed = place(small + large, cluster)
    assert placed["default/l0"] == "n0"
    assert sum(1 for key in placed if key.startswith("default/s")) == 1


def test_higher_priority_goes_first() -> None:
    low = pods(4, "low", priority=0)
    high = pods(4, "high", priority=10)
    placed = place(low + high, nodes(1))
    assert sorted(placed) == sorted(p.key for p in high)


def test_selectors_and_taints_are_respected() -> None:
    plain = nodes(1)[0]
    tainted = NodeState(
        "t",
        Resources.of(8000, 32 * GI, 110),
        {"pool": "gpu"},
        (Taint("gpu", TaintEffect.NO_SCHEDULE),),
    )
    labelled = NodeState("l", Resources.of(8000, 32 * GI, 110), {"pool": "gpu"})
    placed = place(pods(2, node_selector={"pool": "gpu"}), [plain, tainted, labelled])
    assert set(placed.values()) == {"l"}


def test_hostname_selection_is_evaluated_per_node() -> None:
    cluster = nodes(3)
    pinned = pods(1, node_selector={HOSTNAME_LABEL: "n2"})
    by_field = pods(
        1,
        "f",
        required_node_affinity=(
            NodeSelectorTerm(match_fields=(Requirement("metadata.name", "In", ("n1",)),)),
        ),
    )
    placed = place(pinned + by_field, cluster)
    assert placed == {"default/p0": "n2", "default/f0": "n1"}


def test_anti_affinity_spreads_a_deployment() -> None:
    spread = (PodAffinityTerm(LabelSelector(match_labels=(("app", "web"),))),)
    replicas = pods(4, cpu=100, labels={"app": "web"}, required_anti_affinity=spread)
    placed = place(replicas, nodes(3))
    assert sorted(placed.values()) == ["n0", "n1", "n2"]


def test_existing_anti_affinity_keeps_matching_pods_away() -> None:
    cluster = nodes(2)
    guard = Pod(
        "default",
        "guard",
        labels={"app": "db"},
        required_anti_affinity=(PodAffinityTerm(LabelSelector(match_labels=(("app", "web"),))),),
    )
    cluster[0].add(guard)
    web = pods(2, "w", cpu=100, labels={"app": "web"})
    other = pods(2, "o", cpu=100, labels={"app": "api"})
    placed = place(web + other, cluster)
    assert {placed[p.key] for p in web} == {"n1"}
    assert {placed[p.key] for p in other} == {"n0"}


def test_host_ports_take_one_pod_per_node() -> None:
    placed = place(pods(3, cpu=100, host_ports=(HostPort(9100),)), nodes(2))
    assert sorted(placed.values()) == ["n0", "n1"]


def test_cordoned_nodes_take_nothing() -> None:
    cluster = nodes(2)
    cluster[0].schedulable = False
    cluster[0]._signature = None
    placed = place(pods(2), cluster)
    assert set(placed.values()) == {"n1"}


def test_equivalence_ignores_identity_without_anti_affinity() -> None:
    a = Pod("ns1", "a", labels={"x": "1"}, requests=Resources.of(cpu=100))
    b = Pod("ns2", "b", labels={"x": "2"}, requests=Resources.of(cpu=100))
    assert len(group_equivalent([a, b])) == 1
    assert len(group_equivalent([a, b], with_identity=True)) == 2
    c = Pod("ns1", "c", requests=Resources.of(cpu=200))
    assert len(group_equivalent([a, c])) == 2


def _one_by_one(pending: list[Pod], cluster: list[NodeState]) -> dict[str, str]:
    """The reference: the scheduler's loop, one pod at a time over every node, in class order."""
    classes = sorted(group_equivalent(pending, with_identity=True), key=placement_order)
    placed = {}
    for pod in (pod for cls in classes for pod in cls.pods):
        for node in cluster:
            if node.fit_failure(pod) is None:
                node.add(pod)
                placed[pod.key] = node.name
                break
    return placed


pod_specs = st.lists(
    st.tuples(
        st.sampled_from([250, 500, 1000, 1500]),
        st.sampled_from([GI // 2, GI, 3 * GI]),
        st.sampled_from(["a", "b", None]),
        st.booleans(),
    ),
    max_size=40,
)


@given(pod_specs, st.integers(1, 5))
@settings(max_examples=60, deadline=None)
def test_bulk_placement_equals_one_pod_at_a_time(
    specs: list[tuple[int, int, str | None, bool]], count: int
) -> None:
    spread = (PodAffinityTerm(LabelSelector(match_labels=(("app", "spread"),))),)

    def build() -> tuple[list[Pod], list[NodeState]]:
        pending = [
            Pod(
                "default",
                f"p{i}",
                requests=Resources.of(cpu, mem),
                node_selector={"pool": pool} if pool else {},
                labels={"app": "spread"} if anti else {},
                required_anti_affinity=spread if anti else (),
            )
            for i, (cpu, mem, pool, anti) in enumerate(specs)
        ]
        cluster = nodes(count, cpu=4000, memory=8 * GI, pool="a") + nodes(
            count, cpu=2000, memory=8 * GI, pool="b"
        )
        for i, node in enumerate(cluster[count:]):
            node.name = f"m{i}"
        return pending, cluster

    pending, cluster = build()
    bulk = place(pending, cluster)
    pending, reference_cluster = build()
    reference = _one_by_one(pending, reference_cluster)
    assert bulk == reference
    for node in cluster:
        assert not node.free.is_negative()
