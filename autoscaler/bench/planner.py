"""The planner benchmark: how fast scale-up plans, and how well its VMs are packed.

Quality is compared with two references computed on the pods the plan put into new VMs:
a proven lower bound on the number of VMs (no VM can hold more than the largest allowed
shape leaves after overhead), and the first-fit-decreasing packing onto one fixed node shape
that a cluster-autoscaler node group would use, with the same overhead model.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from math import ceil

from autoscaler.api.policy import Shape
from autoscaler.api.resources import CPU, MEMORY, PODS, Resources
from autoscaler.bench.worlds import FIXED_SHAPE, SCENARIOS, BenchScenario, BenchWorld, build_world
from autoscaler.core.future_node import pool_daemonset_overhead
from autoscaler.core.model import Pod, Pool
from autoscaler.core.overhead import node_allocatable
from autoscaler.core.scaleup import ScaleUpResult, plan_scale_up
from autoscaler.core.shapes import catalog


@dataclass(frozen=True, slots=True)
class PlannerFigures:
    name: str
    pending_pods: int
    nodes: int
    runs: int
    plan_seconds_median: float
    plan_seconds_min: float
    pods_per_second: float
    pods_on_existing_or_launching: int
    pods_in_new_vms: int
    pods_unserved: int
    vms_planned: int
    lower_bound_vms: int
    fixed_shape_vms: int
    fixed_shape_unplaceable_pods: int
    packing_efficiency: float
    cpu_efficiency: float
    memory_efficiency: float
    vm_vcpus_provisioned: int
    fixed_shape_vcpus: int

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _sum(vectors: Iterable[Resources]) -> dict[str, int]:
    total: dict[str, int] = {}
    for vector in vectors:
        for name, amount in vector.items():
            total[name] = total.get(name, 0) + amount
    return total


def lower_bound_vms(pods: Sequence[Pod], room: Resources) -> int:
    """No VM holds more than ``room`` (the largest shape's allocatable after overhead)."""
    if not pods:
        return 0
    totals = _sum(p.requests for p in pods)
    totals[PODS] = len(pods)
    return max(ceil(totals.get(name, 0) / room[name]) for name in (CPU, MEMORY, PODS))


def fixed_shape_packing(pods: Sequence[Pod], room: Resources) -> tuple[int, int]:
    """First-fit decreasing onto identical nodes of ``room``; (nodes, pods that fit none)."""
    order = sorted(
        pods, key=lambda p: -max(p.requests.cpu / room.cpu, p.requests.memory / room.memory)
    )
    bins: list[list[int]] = []  # free cpu, memory, pod slots
    unplaceable = 0
    smallest_cpu = min((p.requests.cpu for p in pods), default=0)
    smallest_memory = min((p.requests.memory for p in pods), default=0)
    start = 0  # bins before this one have no room for even the smallest pod
    for pod in order:
        cpu, memory = pod.requests.cpu, pod.requests.memory
        if cpu > room.cpu or memory > room.memory:
            unplaceable += 1
            continue
        for index in range(start, len(bins)):
            free = bins[index]
            if free[0] >= cpu and free[1] >= memory and free[2] >= 1:
                free[0] -= cpu
                free[1] -= memory
                free[2] -= 1
                break
        else:
            bins.append([room.cpu - cpu, room.memory - memory, room.pods - 1])
        while start < len(bins) and (
            bins[start][0] < smallest_cpu or bins[start][1] < smallest_memory or bins[start][2] < 1
        ):
            start += 1
    return len(bins), unplaceable


def _time_plans(world: BenchWorld, runs: int) -> tuple[list[float], ScaleUpResult]:
    timings = []
    result = plan_scale_up(world.snapshot, world.pools)
    for _ in range(runs):
        started = time.perf_counter()
        result = plan_scale_up(world.snapshot, world.pools)
        timings.append(time.perf_counter() - started)
    return timings, result


def measure(scenario: BenchScenario, seed: int = 1, runs: int | None = None) -> PlannerFigures:
    world = build_world(scenario, seed)
    runs = runs or scenario.runs
    timings, result = _time_plans(world, runs)
    pool: Pool = world.pools[0]
    assert pool.settings is not None
    overhead = pool_daemonset_overhead(pool, world.snapshot.daemonsets)
    by_key = {p.key: p for p in world.snapshot.pods}
    new_pods = [by_key[k] for launch in result.launches for k in launch.pods]
    largest = catalog(world.snapshot.shape_bounds, pool.settings).largest or FIXED_SHAPE
    bound = lower_bound_vms(new_pods, node_allocatable(largest) - overhead)
    fixed_room = node_allocatable(FIXED_SHAPE) - overhead
    fixed_vms, unplaceable = fixed_shape_packing(new_pods, fixed_room)
    requested = _sum(p.requests for p in new_pods)
    shapes: list[Shape] = [launch.shape for launch in result.launches]
    provisioned = _sum(node_allocatable(s) - overhead for s in shapes)
    cpu_eff = requested.get(CPU, 0) / provisioned[CPU] if provisioned.get(CPU) else 0.0
    mem_eff = requested.get(MEMORY, 0) / provisioned[MEMORY] if provisioned.get(MEMORY) else 0.0
    median = statistics.median(timings)
    settled = len(result.placements)
    unserved = scenario.pending_pods - settled - len(new_pods)
    return PlannerFigures(
        name=scenario.name,
        pending_pods=scenario.pending_pods,
        nodes=scenario.nodes,
        runs=runs,
        plan_seconds_median=round(median, 4),
        plan_seconds_min=round(min(timings), 4),
        pods_per_second=round(scenario.pending_pods / median, 1) if median else 0.0,
        pods_on_existing_or_launching=settled,
        pods_in_new_vms=len(new_pods),
        pods_unserved=unserved,
        vms_planned=len(result.launches),
        lower_bound_vms=bound,
        fixed_shape_vms=fixed_vms,
        fixed_shape_unplaceable_pods=unplaceable,
        packing_efficiency=round(max(cpu_eff, mem_eff), 4),
        cpu_efficiency=round(cpu_eff, 4),
        memory_efficiency=round(mem_eff, 4),
        vm_vcpus_provisioned=sum(s.cpu for s in shapes) // 1000,
        fixed_shape_vcpus=fixed_vms * FIXED_SHAPE.cpu // 1000,
    )


def run_planner_suite(
    names: Sequence[str] | None = None, seed: int = 1, runs: int | None = None
) -> list[PlannerFigures]:
    """Measure the named scenarios (all by default), smallest first."""
    unknown = [n for n in names or () if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    chosen = [SCENARIOS[n] for n in SCENARIOS if not names or n in names]
    return [measure(s, seed, runs) for s in chosen]
