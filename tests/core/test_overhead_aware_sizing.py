"""Sizing and consolidation that count what a node loses to reservations and DaemonSets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_autoscaler_world import (
    make_node,
    make_pod,
    make_pool,
    of_type,
    pending_pod,
    vm_for,
    world,
)
from test_rightsizing import BOUNDS, SETTINGS

from autoscaler.api.policy import BudgetKind, DisruptionBudget, Shape
from autoscaler.api.resources import Resources
from autoscaler.core.actions import CordonNode, LaunchVM, Reason
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.cost import vcpu_equivalents
from autoscaler.core.disruption.replacement import REPLACEMENT_MAX_COST_SHARE
from autoscaler.core.model import DaemonSet, Pod, Snapshot
from autoscaler.core.overhead import GI, kubelet_reserved, node_allocatable
from autoscaler.core.rightsizing import GROWTH_EVIDENCE_SHARE, GROWTH_OVERHEAD_SHARE
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.shapes import ShapeCatalog

SMALL = Shape(2000, 4 * GI)
DS_CPU = 300
AGENTS = DaemonSet(
    "kube-system",
    "agents",
    Pod("kube-system", "agents", requests=Resources.of(cpu=DS_CPU, memory=384 * 2**20)),
)


def growing_world(cpu: int) -> Snapshot:
    return world([], [pending_pod("p", cpu=cpu)], daemonsets=(AGENTS,))


UNNEEDED = 600.0


def lost_share(shape: Shape, per_node_cpu: int) -> float:
    return (kubelet_reserved(shape).cpu + per_node_cpu) / shape.cpu


@settings(max_examples=40, deadline=None)
@given(per_node_cpu=st.integers(0, 1500), share=st.floats(0.01, 0.5))
def test_efficient_cpu_is_the_fewest_vcpus_within_the_share(
    per_node_cpu: int, share: float
) -> None:
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    cpus = sorted({shape.cpu for shape in catalog.shapes()})
    efficient = catalog.efficient_cpu(per_node_cpu, share)
    assert efficient in cpus
    within = [c for c in cpus if lost_share(Shape(c, 4 * GI), per_node_cpu) <= share]
    assert efficient == (within[0] if within else cpus[-1])


def test_allocatable_cpu_matches_the_node_of_that_shape() -> None:
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    for cpu in (2000, 8000, 32000):
        assert catalog.allocatable_cpu(cpu) == node_allocatable(Shape(cpu, 16 * GI)).cpu


def test_a_growing_pool_gets_vms_whose_overhead_is_a_small_share() -> None:
    snapshot = growing_world(1000)
    growth = {"general": Resources.of(cpu=4000, memory=4 * GI)}
    [grown] = plan_scale_up(snapshot, snapshot.pools, min_loads=growth).launches
    [tight] = plan_scale_up(snapshot, snapshot.pools).launches
    assert tight.shape.cpu == 2000
    assert lost_share(grown.shape, DS_CPU) <= GROWTH_OVERHEAD_SHARE
    smaller = Shape(grown.shape.cpu - 2000, grown.shape.memory)
    assert smaller.cpu >= 4000 and lost_share(smaller, DS_CPU) > GROWTH_OVERHEAD_SHARE
    # The mix of cpu and memory of the growth is kept: about 1Gi per vCPU, not the most memory.
    assert grown.shape.memory <= grown.shape.cpu // 1000 * 2 * GI


def test_a_single_small_launch_is_not_taken_for_growth() -> None:
    snapshot = growing_world(1000)
    catalog = ShapeCatalog(BOUNDS, SETTINGS)
    floor = catalog.allocatable_cpu(catalog.efficient_cpu(DS_CPU, GROWTH_OVERHEAD_SHARE) or 0)
    below = int(GROWTH_EVIDENCE_SHARE * floor) - 1000
    growth = {"general": Resources.of(cpu=below, memory=GI)}
    [launch] = plan_scale_up(snapshot, snapshot.pools, min_loads=growth).launches
    assert launch.shape.cpu < floor


def test_a_pool_that_is_not_growing_keeps_tight_vms() -> None:
    snapshot = world([], [pending_pod(f"p{i}", cpu=1000) for i in range(3)])
    [launch] = plan_scale_up(snapshot, snapshot.pools, min_loads={}).launches
    assert launch.shape.cpu == 4000


def small_busy_nodes() -> tuple[list[LaunchVM], Autoscaler]:
    """Four well-used 2cpu/4Gi nodes: their pods fit one VM that costs much less than four."""
    nodes = [make_node(f"n{i}", cpu=node_allocatable(SMALL).cpu, memory=3 * GI) for i in range(4)]
    pods = [make_pod(f"p{i}", f"n{i}", cpu=1400, memory=2 * GI) for i in range(4)]
    vms = [vm_for(node, shape=SMALL) for node in nodes]
    budget = DisruptionBudget(BudgetKind.COUNT, 5)
    snapshot = world(nodes, pods, pools=[make_pool(disruption_budget=budget)], vms=vms)
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0))
    autoscaler.decide(snapshot, 0.0)
    launches = [a for a in autoscaler.decide(snapshot, UNNEEDED).actions if isinstance(a, LaunchVM)]
    return launches, autoscaler


def test_small_well_used_nodes_are_merged_into_one_larger_vm() -> None:
    launches, _ = small_busy_nodes()
    [launch] = launches
    assert isinstance(launch, LaunchVM)
    assert launch.reason is Reason.UNDERUTILIZED
    assert set(launch.pods) == {f"default/p{i}" for i in range(4)}
    assert launch.shape.cpu > SMALL.cpu
    old = 4 * vcpu_equivalents(SMALL.cpu, SMALL.memory)
    assert (
        vcpu_equivalents(launch.shape.cpu, launch.shape.memory) <= REPLACEMENT_MAX_COST_SHARE * old
    )


def test_merging_drains_nothing_before_the_larger_vm_is_up() -> None:
    launches, autoscaler = small_busy_nodes()
    assert launches
    nodes = [make_node(f"n{i}", cpu=node_allocatable(SMALL).cpu, memory=3 * GI) for i in range(4)]
    pods = [make_pod(f"p{i}", f"n{i}", cpu=1400, memory=2 * GI) for i in range(4)]
    snapshot = world(nodes, pods, vms=[vm_for(node, shape=SMALL) for node in nodes])
    assert of_type(autoscaler.decide(snapshot, UNNEEDED + 60.0), CordonNode) == []
