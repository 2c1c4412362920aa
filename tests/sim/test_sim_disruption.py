"""The simulated Eviction API and its count of broken PodDisruptionBudgets."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoscaler.api.policy import IntRange, ShapeBounds, TenantLimits
from autoscaler.api.resources import Resources
from autoscaler.core.model import Node, Pod, PodPhase
from autoscaler.sim.disruption import REFUSED, Disruptions
from autoscaler.sim.scenario_workloads import DisruptionBudgetSpec
from autoscaler.sim.world import SimWorld

GI = 2**30


@dataclass
class OneDeployment:
    """What Disruptions asks of the workloads: one Deployment "web" with a budget."""

    target: int
    pdb: DisruptionBudgetSpec = field(
        default_factory=lambda: DisruptionBudgetSpec(max_unavailable=1)
    )

    def budget(self, owner: str) -> DisruptionBudgetSpec | None:
        return self.pdb if owner == "web" else None

    def expected(self, owner: str) -> int:
        return self.target if owner == "web" else 0


def running(replicas: int, workloads: OneDeployment) -> tuple[SimWorld, Disruptions]:
    """A node running ``replicas`` pods of "web", watched by the Eviction API from the start."""
    bounds = ShapeBounds(IntRange(2000, 8000, 2000), IntRange(4 * GI, 32 * GI, GI), GI, 8 * GI)
    world = SimWorld("t", bounds, TenantLimits())
    world.add_node(Node("n1", allocatable=Resources.of(cpu=64_000, memory=64 * GI)), vm="vm-1")
    world.update_node("n1", ready=True)
    budget = Disruptions(world, workloads)  # type: ignore[arg-type]
    for i in range(replicas):
        world.add_pod(
            Pod(
                "shop",
                f"web-{i}",
                requests=Resources.of(cpu=100, memory=GI),
                owner_kind="ReplicaSet",
                owner_name="web",
            )
        )
        world.bind(f"shop/web-{i}", "n1")
        world.start_pod(f"shop/web-{i}")
    return world, budget


def test_an_allowed_eviction_is_no_violation_when_the_target_grows_meanwhile() -> None:
    workloads = OneDeployment(target=4)
    world, budget = running(4, workloads)
    assert budget.allowed("web") == 1

    def scale_up_on_removal(pod: Pod, why: str) -> None:
        workloads.target = 5  # the schedule grew; the Deployment catches up now

    world.pod_listeners.append(scale_up_on_removal)
    assert budget.evict("shop/web-0") is None
    assert budget.violations == 0
    assert budget.evict("shop/web-1") == REFUSED


def test_a_node_killed_under_a_budget_that_allows_nothing_is_a_violation() -> None:
    world, budget = running(4, OneDeployment(target=4))
    budget.kill("shop/web-0")
    assert budget.violations == 0  # one unavailable is allowed
    budget.kill("shop/web-1")
    assert budget.violations == 1
    assert all(p.phase is PodPhase.RUNNING for p in world.pods.values())
