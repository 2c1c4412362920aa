"""Plans never strand pods held by topology spread or anti-affinity.

On random small worlds (two zones, existing nodes holding pods of the same groups), a
sequential scheduler replays the plan with the scheduler's filters over every node: first the
pods the plan put on existing nodes, each on its node; then, with every planned VM present as
a node of its pool and zone, the pods the VMs were launched for, each on its planned VM when
the filters allow it there and otherwise on any node that takes it. Every one must find a
node.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.api.policy import IntRange, PoolSettings, ShapeBounds
from autoscaler.api.resources import Resources
from autoscaler.core.future_node import future_node
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    POOL_LABEL,
    ZONE_LABEL,
    Host,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Pool,
    Snapshot,
    TopologySpreadConstraint,
)
from autoscaler.core.overhead import GI
from autoscaler.core.predicates import NodeState
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.topology_filters import TopologyFilters

ZONES = ("zone-a", "zone-b")
BOUNDS = ShapeBounds(IntRange(2000, 16000, 2000), IntRange(4 * GI, 64 * GI, 2 * GI), GI, 8 * GI)
POOL = Pool(
    "general",
    {"pool": "general"},
    settings=PoolSettings(
        image="k8s", cpu=IntRange(2000, 16000, 1000), memory=IntRange(4 * GI, 64 * GI, 1)
    ),
    image_hash="h1",
)
HOSTS = tuple(
    Host(f"host-{z}", Resources.of(cpu=64_000, memory=256 * GI), labels={ZONE_LABEL: z})
    for z in ZONES
)


@dataclass(frozen=True)
class Group:
    app: str
    kind: str  # "", host-spread, zone-spread, anti
    skew: int
    cpu: int
    pending: int
    running: tuple[int, ...]  # indexes of the existing nodes running one pod each


def constraints(group: Group) -> dict[str, object]:
    selector = LabelSelector(match_labels=(("app", group.app),))
    if group.kind == "host-spread":
        return {
            "topology_spread": (TopologySpreadConstraint(group.skew, HOSTNAME_LABEL, selector),)
        }
    if group.kind == "zone-spread":
        return {"topology_spread": (TopologySpreadConstraint(group.skew, ZONE_LABEL, selector),)}
    if group.kind == "anti":
        return {"required_anti_affinity": (PodAffinityTerm(selector, HOSTNAME_LABEL),)}
    return {}


groups = st.lists(
    st.builds(
        Group,
        app=st.sampled_from(("web", "api", "db", "cache")),
        kind=st.sampled_from(("", "host-spread", "zone-spread", "anti")),
        skew=st.integers(1, 2),
        cpu=st.sampled_from((250, 500, 1000, 1500)),
        pending=st.integers(1, 7),
        running=st.lists(st.integers(0, 3), max_size=3).map(tuple),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda g: g.app,
)


def build(groups: list[Group], node_zones: list[str]) -> Snapshot:
    nodes = tuple(
        Node(
            f"n{i}",
            Resources.of(cpu=4000, memory=16 * GI, pods=110),
            {"pool": "general", POOL_LABEL: "general", HOSTNAME_LABEL: f"n{i}", ZONE_LABEL: z},
        )
        for i, z in enumerate(node_zones)
    )
    pods: list[Pod] = []
    for group in groups:
        extra = constraints(group)
        requests = Resources.of(group.cpu, GI)
        for j, index in enumerate(group.running):
            if index < len(nodes) and not (
                group.kind == "anti" and j != group.running.index(index)
            ):
                pods.append(
                    Pod(
                        "default",
                        f"{group.app}-run-{j}",
                        requests=requests,
                        labels={"app": group.app},
                        node_name=nodes[index].name,
                        phase=PodPhase.RUNNING,
                        **extra,  # type: ignore[arg-type]
                    )
                )
        for j in range(group.pending):
            pods.append(
                Pod(
                    "default",
                    f"{group.app}-{j}",
                    requests=requests,
                    labels={"app": group.app},
                    unschedulable=True,
                    **extra,  # type: ignore[arg-type]
                )
            )
    return Snapshot("t", tuple(pods), nodes, (), (POOL,), HOSTS, BOUNDS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups=groups, node_zones=st.lists(st.sampled_from(ZONES), max_size=4))
def test_a_scheduler_with_the_filters_places_every_pod_the_plan_was_for(
    groups: list[Group], node_zones: list[str]
) -> None:
    snapshot = build(groups, node_zones)
    result = plan_scale_up(snapshot, [POOL])
    by_key = {p.key: p for p in snapshot.pods}

    filters = TopologyFilters()
    states: dict[str, NodeState] = {}
    for node in snapshot.nodes:
        bound = [p for p in snapshot.pods if p.node_name == node.name]
        states[node.name] = NodeState.from_node(node, bound)
        filters.attach(states[node.name])
    for key, name in result.placements.items():
        state = states[name]
        assert state.fit_failure(by_key[key]) is None, (key, name)
        state.add(by_key[key])

    planned: list[tuple[Pod, str]] = []
    for i, launch in enumerate(result.launches):
        name = f"new-{i}"
        states[name] = future_node(name, POOL, launch.shape, zone=launch.zone)
        filters.attach(states[name], new=True)
        planned.extend((by_key[key], name) for key in launch.pods)
    for pod, name in planned:
        target = states[name]
        if target.fit_failure(pod) is not None:
            target = next((s for s in states.values() if s.fit_failure(pod) is None), None)
        assert target is not None, f"{pod.key} planned for {name} finds no node"
        target.add(pod)
