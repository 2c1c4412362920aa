"""Plans the tenant's scheduler follows: once the planned VMs are Nodes (their labels, and
their allocatable less the DaemonSet pods), a sequential scheduler that filters with the
core's predicates, takes pods in kube-scheduler's queue order and scores nodes like its
default profile places every pod the VMs were planned for.

The reference scheduler here is deliberately plain (every node scored for every pod); the
scores follow ``pkg/scheduler/framework/plugins/noderesources/least_allocated.go`` and
``balanced_allocation.go``, the queue ``framework/plugins/queuesort/priority_sort.go``.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.api.policy import IntRange, PoolSettings, ShapeBounds
from autoscaler.api.resources import Resources
from autoscaler.core.future_node import future_node
from autoscaler.core.model import DaemonSet, Host, Pod, Pool, Snapshot
from autoscaler.core.overhead import GI, MI, host_footprint, node_allocatable
from autoscaler.core.predicates import NodeState
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.scoring import default_profile_score, queue_order

BOUNDS = ShapeBounds(IntRange(2000, 32000, 2000), IntRange(4 * GI, 128 * GI, 2 * GI), GI, 8 * GI)
DAEMONSET = DaemonSet(
    "kube-system",
    "exporter",
    Pod("kube-system", "exporter", requests=Resources.of(100, 128 * MI), owner_kind="DaemonSet"),
)


def reference_scheduler(pods: list[Pod], nodes: list[NodeState]) -> dict[str, str]:
    placed = {}
    for pod in sorted(pods, key=queue_order):
        feasible = [n for n in nodes if n.fit_failure(pod) is None]
        if feasible:
            best = max(feasible, key=lambda n: default_profile_score(n, pod.requests))
            best.add(pod)
            placed[pod.key] = best.name
    return placed


@st.composite
def worlds(draw: st.DrawFn) -> Snapshot:
    pool = Pool(
        "general",
        {"pool": "general"},
        settings=PoolSettings(
            image="img",
            cpu=IntRange(draw(st.sampled_from([2000, 4000])), 32000, 1000),
            memory=IntRange(4 * GI, 128 * GI, 1),
            max_nodes=100,
        ),
        image_hash="h",
    )
    count = draw(st.integers(1, 60))
    pods = tuple(
        Pod(
            "ns",
            f"p{i:02d}",
            requests=Resources.of(draw(st.integers(50, 6000)), draw(st.integers(64, 24_000)) * MI),
            unschedulable=True,
            created=float(draw(st.integers(0, 100))),
            priority=draw(st.sampled_from([0, 0, 0, 1000])),
        )
        for i in range(count)
    )
    daemonsets = (DAEMONSET,) if draw(st.booleans()) else ()
    hosts = (Host("metal-a", Resources.of(512_000, 2048 * GI)),)
    return Snapshot("t", pods, (), (), (pool,), hosts, BOUNDS, daemonsets=daemonsets)


@given(worlds())
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_scheduler_places_every_pod_the_plan_launched_for(snapshot: Snapshot) -> None:
    result = plan_scale_up(snapshot, snapshot.pools)
    assert result == plan_scale_up(snapshot, snapshot.pools)  # deterministic
    pool = snapshot.pools[0]
    pods = {p.key: p for p in snapshot.pods}
    planned = [pods[key] for launch in result.launches for key in launch.pods]
    assert len(planned) == len(pods)

    nodes = [
        future_node(f"vm-{i:03d}", pool, launch.shape, snapshot.daemonsets)
        for i, launch in enumerate(result.launches)
    ]
    placed = reference_scheduler(planned, nodes)
    assert sorted(placed) == sorted(p.key for p in planned)
    for node, launch in zip(nodes, result.launches, strict=True):
        assert node.used.fits_in(node_allocatable(launch.shape))
    used = Resources()
    for launch in result.launches:
        used += host_footprint(launch.shape)
    assert used.fits_in(snapshot.hosts[0].free)
