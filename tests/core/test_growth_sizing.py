"""Sizing for a pool that keeps growing: fewer, larger VMs with room for what comes next."""

from __future__ import annotations

from test_autoscaler_world import make_node, make_pod, of_type, pending_pod, world

from autoscaler.api.resources import Resources
from autoscaler.core.actions import LaunchVM
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.scaleup import plan_scale_up


def shapes(plan_launches: list[LaunchVM]) -> list[int]:
    return [launch.shape.cpu for launch in plan_launches]


def test_min_load_makes_new_vms_roomier_but_never_smaller() -> None:
    snapshot = world([], [pending_pod("p", cpu=1000)])
    tight = plan_scale_up(snapshot, snapshot.pools)
    roomy = plan_scale_up(
        snapshot, snapshot.pools, min_loads={"general": Resources.of(cpu=6000, memory=8 * 2**30)}
    )
    assert len(tight.launches) == len(roomy.launches) == 1
    assert roomy.launches[0].shape.cpu >= 6000 > tight.launches[0].shape.cpu
    assert roomy.launches[0].shape.memory >= tight.launches[0].shape.memory


def test_a_growing_pool_sizes_the_next_vm_for_its_recent_growth() -> None:
    config = CoreConfig(scale_down_validation_delay=0.0)
    growing, tight = Autoscaler(config), Autoscaler(CoreConfig(growth_window=0.0))
    nodes = [make_node("n1")]
    bound = [make_pod("a", "n1", cpu=3500)]
    first = world(nodes, [*bound, *(pending_pod(f"p1{i}", cpu=1500) for i in range(3))])
    second = world(nodes, [*bound, pending_pod("p2", cpu=1500)])
    for autoscaler in (growing, tight):
        autoscaler.decide(first, 0.0)
    grown = [a for a in of_type(growing.decide(second, 60.0), LaunchVM)]
    fixed = [a for a in of_type(tight.decide(second, 60.0), LaunchVM)]
    assert isinstance(grown[0], LaunchVM) and isinstance(fixed[0], LaunchVM)
    assert grown[0].shape.cpu > fixed[0].shape.cpu


def test_growth_beyond_the_largest_vm_keeps_the_pods_mix_of_memory() -> None:
    # Growth of 30 vCPUs with 2Gi per vCPU cannot fit one VM; the VM is the largest by cpu
    # but keeps about the mix's memory, instead of the most memory the pool allows.
    snapshot = world([], [pending_pod("p", cpu=1000)])
    growth = Resources.of(cpu=30_000, memory=60 * 2**30)
    roomy = plan_scale_up(snapshot, snapshot.pools, min_loads={"general": growth})
    [launch] = roomy.launches
    assert launch.shape.cpu >= 8000
    assert launch.shape.memory <= 3 * launch.shape.cpu / 1000 * 2**30, launch.shape
