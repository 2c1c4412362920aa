"""kube-scheduler's default profile as the core models it: queue order and resource scores.

Score cases are ported from upstream's tables: ``pkg/scheduler/framework/plugins/
noderesources/least_allocated_test.go`` ("nothing scheduled, resources requested,
differently sized machines": 37 and 50) and ``balanced_allocation_test.go`` (the same
nodes and pod: 87 and 100); the default profile adds the two.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.core.model import Pod
from autoscaler.core.predicates import NodeState
from autoscaler.core.scoring import (
    default_profile_score,
    queue_order,
    resource_score,
    schedule,
)


@pytest.mark.parametrize(
    ("cpu_capacity", "memory_capacity", "cpu", "memory", "expected"),
    [
        (4000, 10000, 0, 0, 100 + 100),  # nothing requested: least 100, balanced 100
        (4000, 10000, 3000, 5000, 37 + 87),  # 75 % cpu, 50 % memory
        (6000, 10000, 3000, 5000, 50 + 100),  # 50 % of both
    ],
)
def test_resource_score_matches_upstream_tables(
    cpu_capacity: int, memory_capacity: int, cpu: int, memory: int, expected: int
) -> None:
    assert resource_score(cpu, memory, cpu_capacity, memory_capacity) == expected


def test_node_score_counts_the_pods_already_there() -> None:
    node = NodeState("n", Resources.of(4000, 10000, 110))
    node.add(Pod("d", "there", requests=Resources.of(1000, 2500)))
    # 3000/4000 cpu and 5000/10000 memory once the pod is added.
    assert default_profile_score(node, Resources.of(2000, 2500)) == 37 + 87


def test_queue_takes_priority_then_age() -> None:
    pods = [
        Pod("d", "young", created=20.0),
        Pod("d", "old", created=10.0),
        Pod("d", "urgent", created=30.0, priority=100),
    ]
    assert [p.name for p in sorted(pods, key=queue_order)] == ["urgent", "old", "young"]


def _naive(pods: list[Pod], nodes: list[NodeState]) -> dict[str, str]:
    placed = {}
    for pod in sorted(pods, key=queue_order):
        best = None
        for position, node in enumerate(nodes):
            if node.fit_failure(pod) is None:
                score = default_profile_score(node, pod.requests)
                if best is None or score > best[0]:
                    best = (score, position)
        if best is not None:
            nodes[best[1]].add(pod)
            placed[pod.key] = nodes[best[1]].name
    return placed


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 16), st.integers(1, 64)), min_size=1, max_size=8),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 8192), st.integers(0, 2)), max_size=40),
)
def test_pruned_schedule_equals_scoring_every_node(
    shapes: list[tuple[int, int]], requests: list[tuple[int, int, int]]
) -> None:
    def nodes() -> list[NodeState]:
        return [
            NodeState(f"n{i}", Resources.of(c * 1000, m * 2**20 * 64, 110))
            for i, (c, m) in enumerate(shapes)
        ]

    pods = [
        Pod("d", f"p{i:02d}", requests=Resources.of(c, m * 2**20), priority=pr, created=float(i))
        for i, (c, m, pr) in enumerate(requests)
    ]
    assert schedule(pods, nodes()) == _naive(pods, nodes())
