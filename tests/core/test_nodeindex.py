"""The free-capacity index: it prunes the node walk of first-fit but never changes its answer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.core.model import HOSTNAME_LABEL, Pod
from autoscaler.core.nodeindex import NodeIndex
from autoscaler.core.predicates import NodeState, pod_vector
from autoscaler.core.scheduling import place

GI = 2**30

node_shapes = st.tuples(
    st.integers(1, 16).map(lambda c: c * 1000),
    st.integers(1, 64).map(lambda g: g * GI),
    st.integers(1, 8),
)
pod_requests = st.tuples(st.integers(1, 4000), st.integers(1, 8 * GI))


def _nodes(shapes: list[tuple[int, int, int]]) -> list[NodeState]:
    return [
        NodeState(f"n{i:03d}", Resources.of(c, m, p), {HOSTNAME_LABEL: f"n{i:03d}"})
        for i, (c, m, p) in enumerate(shapes)
    ]


def _pods(requests: list[tuple[int, int]]) -> list[Pod]:
    return [Pod("d", f"p{i:03d}", requests=Resources.of(c, m)) for i, (c, m) in enumerate(requests)]


def _walk_first_fit(pods: list[Pod], nodes: list[NodeState]) -> dict[str, str]:
    """The reference: each pod, in the order :func:`place` takes them, on the first node by
    position that passes every predicate."""
    placed = {}
    order = sorted(pods, key=lambda p: (-p.priority, -p.requests.cpu, -p.requests.memory))
    for pod in order:
        for node in nodes:
            if node.fit_failure(pod) is None:
                node.add(pod)
                placed[pod.key] = node.name
                break
    return placed


@settings(max_examples=60, deadline=None)
@given(st.lists(node_shapes, min_size=1, max_size=40), st.lists(pod_requests, max_size=60))
def test_indexed_placement_is_the_plain_first_fit(
    shapes: list[tuple[int, int, int]], requests: list[tuple[int, int]]
) -> None:
    pods = _pods(requests)
    assert place(pods, _nodes(shapes)) == _walk_first_fit(pods, _nodes(shapes))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(node_shapes, min_size=1, max_size=40),
    st.lists(pod_requests, min_size=1, max_size=30),
    st.integers(0, 40),
)
def test_candidates_are_every_node_with_room_in_order(
    shapes: list[tuple[int, int, int]], requests: list[tuple[int, int]], start: int
) -> None:
    nodes = _nodes(shapes)
    index = NodeIndex(nodes[:1])
    for node in nodes[1:]:
        index.append(node)
    for i, pod in enumerate(_pods(requests)):
        # Fill some node first, as a plan does, and tell the index.
        target = i % len(nodes)
        if nodes[target].fit_failure(pod) is None:
            nodes[target].add(pod)
            index.update(target)
        vector = pod_vector(pod)
        found = list(index.candidates(vector, start))
        with_room = [
            at for at, node in enumerate(nodes) if at >= start and node.how_many(vector) > 0
        ]
        assert found == sorted(found)
        assert set(with_room) <= set(found)
        assert all(nodes[at].how_many(vector) > 0 for at in found)


def test_a_vector_no_node_has_room_for_is_remembered_until_a_node_gains_room() -> None:
    nodes = _nodes([(2000, 4 * GI, 10)])
    index = NodeIndex(nodes)
    big = Resources.of(3000, GI, 1)
    assert list(index.candidates(big)) == []
    assert list(index.candidates(Resources.of(4000, 2 * GI, 1))) == []  # larger: known at once
    nodes[0].allocatable = Resources.of(8000, 8 * GI, 10)
    index.update(0)
    assert list(index.candidates(big)) == [0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(node_shapes, min_size=1, max_size=40),
    st.lists(
        st.tuples(st.sampled_from([0, 1, 250, 1000, 4000]), st.sampled_from([0, 1, GI, 64 * GI])),
        min_size=1,
        max_size=20,
    ),
)
def test_candidates_are_exact_for_extreme_memory_per_cpu(
    shapes: list[tuple[int, int, int]], requests: list[tuple[int, int]]
) -> None:
    """Vectors with no cpu, no memory or a ratio far outside the indexed ones still get every
    node with room and only those."""
    nodes = _nodes(shapes)
    index = NodeIndex(nodes)
    for pod in _pods(requests):
        vector = pod_vector(pod)
        found = list(index.candidates(vector))
        assert found == [at for at, node in enumerate(nodes) if node.how_many(vector) > 0]
