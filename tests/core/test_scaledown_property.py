"""Property: scale-down never removes a node whose pods the next scale-up would launch again."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_autoscaler_world import GI, make_node, make_pod, make_pool, pending_pod, world

from autoscaler.api.policy import BudgetKind, DisruptionBudget
from autoscaler.api.resources import Resources
from autoscaler.core.actions import CordonNode, LaunchVM
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Snapshot,
)
from autoscaler.core.scaleup import plan_scale_up

NODE_SIZES = [(2000, 4 * GI), (4000, 8 * GI), (4000, 16 * GI), (8000, 16 * GI)]
SPREAD = (PodAffinityTerm(LabelSelector(match_labels=(("app", "db"),)), HOSTNAME_LABEL),)


@st.composite
def worlds(draw: st.DrawFn) -> Snapshot:
    budget = DisruptionBudget(BudgetKind.COUNT, draw(st.integers(1, 4)))
    pool = make_pool(
        image_hash="img-v2",
        scale_down_unneeded_seconds=0.0,
        scale_down_utilization_threshold=draw(st.sampled_from([0.3, 0.5, 0.8])),
        min_nodes=draw(st.integers(0, 2)),
        disruption_budget=budget,
    )
    nodes: list[Node] = []
    for index in range(draw(st.integers(1, 6))):
        cpu, memory = draw(st.sampled_from(NODE_SIZES))
        image = draw(st.sampled_from(["img-v2", "img-v2", "img-v1"]))
        nodes.append(make_node(f"n{index}", cpu=cpu, memory=memory, image_hash=image))
    free = {n.name: n.allocatable for n in nodes}
    pods: list[Pod] = []
    for index in range(draw(st.integers(0, 14))):
        node = draw(st.sampled_from(nodes)).name
        cpu = draw(st.sampled_from([100, 250, 500, 1000, 1500]))
        memory = draw(st.sampled_from([GI // 4, GI // 2, GI, 2 * GI]))
        kind = draw(st.sampled_from(["plain", "plain", "plain", "db", "port", "ds"]))
        fields: dict[str, object] = {}
        if kind == "db":
            fields = {"labels": {"app": "db"}, "required_anti_affinity": SPREAD}
        elif kind == "port":
            fields = {"host_ports": (HostPort(9100),)}
        elif kind == "ds":
            fields = {"owner_kind": "DaemonSet"}
        request = Resources.of(cpu=cpu, memory=memory)
        if not request.fits_in(free[node]):
            continue
        free[node] = free[node] - request
        pods.append(make_pod(f"p{index}", node, cpu, memory, **fields))
    if draw(st.booleans()):
        pods.append(pending_pod("big", cpu=draw(st.sampled_from([3000, 64_000]))))
    return world(nodes, pods, pools=[pool])


def after_removal(snapshot: Snapshot, removed: set[str]) -> tuple[Snapshot, set[str]]:
    """The world once ``removed`` nodes are gone and their workload pods wait for a node."""
    pods: list[Pod] = []
    moved: set[str] = set()
    for pod in snapshot.pods:
        if pod.node_name not in removed:
            pods.append(pod)
        elif pod.owner_kind != "DaemonSet" and pod.phase not in (
            PodPhase.SUCCEEDED,
            PodPhase.FAILED,
        ):
            moved.add(pod.key)
            pods.append(
                dataclasses.replace(pod, node_name=None, phase=PodPhase.PENDING, unschedulable=True)
            )
    result = dataclasses.replace(
        snapshot,
        pods=tuple(pods),
        nodes=tuple(n for n in snapshot.nodes if n.name not in removed),
        vms=tuple(vm for vm in snapshot.vms if vm.node_name not in removed),
    )
    return result, moved


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_pods_of_removed_nodes_never_need_a_new_vm(snapshot: Snapshot) -> None:
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0))
    plan = autoscaler.decide(snapshot, 1000.0)
    removed = {a.node for a in plan.actions if isinstance(a, CordonNode)}
    if not removed:
        return
    after, moved = after_removal(snapshot, removed)
    # Launches in the same pass (replacements of other rotated nodes) are not for these pods.
    assert not {k for a in plan.actions if isinstance(a, LaunchVM) for k in a.pods} & moved
    relaunch = plan_scale_up(after, after.pools)
    launched_for = {key for launch in relaunch.launches for key in launch.pods}
    assert not launched_for & moved, (removed, relaunch.launches)
