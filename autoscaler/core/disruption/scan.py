"""One pass's view for the disruption methods: the candidate nodes with their facts, the
budgets left, and the checks every removal passes."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from autoscaler.core.actions import Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.state import DisruptionState
from autoscaler.core.disruption.whatif import (
    ScaleUpPlanner,
    destinations,
    launched_pods,
    try_place,
    without_nodes,
)
from autoscaler.core.drift import Rotation, rotation
from autoscaler.core.eviction import Blocker, movable_pods
from autoscaler.core.lifecycle import LifecycleResult
from autoscaler.core.model import Node, Pod, Pool, Snapshot
from autoscaler.core.nodecache import NodeCache, blocking_pdbs_by_namespace
from autoscaler.core.predicates import NodeState


@dataclass(slots=True)
class CandidateNode:
    """A node some method may disrupt, with the facts the methods weigh."""

    node: Node
    pool: Pool
    moved: list[Pod]
    blockers: list[Blocker]
    utilization: float
    rotation: Rotation | None

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    @property
    def permanently_blocked(self) -> bool:
        return any(not b.momentary for b in self.blockers)

    def sort_key(self) -> tuple[int, float, float, str]:
        # The cheapest disruption first: fewest pods, lowest utilisation, oldest, then name.
        return (len(self.moved), self.utilization, self.node.created, self.node.name)


class Scan:
    """One pass of candidate selection over a snapshot."""

    def __init__(
        self,
        *,
        config: CoreConfig,
        state: DisruptionState,
        plan_scale_up: ScaleUpPlanner,
        cache: NodeCache,
        snapshot: Snapshot,
        now: float,
        pools: Sequence[Pool],
        holds: Mapping[str, str],
        leaving: Collection[str],
        excluded: Collection[str],
        lifecycle: LifecycleResult,
        scale_up_pools: Sequence[Pool],
        launched_now: frozenset[str] = frozenset(),
    ) -> None:
        self.config = config
        self.state = state
        self.plan_scale_up = plan_scale_up
        self.snapshot = snapshot
        self.now = now
        self.pools = {pool.name: pool for pool in pools if pool.settings is not None}
        self.holds = holds
        self.leaving = set(leaving)
        self.lifecycle = lifecycle
        self.scale_up_pools = scale_up_pools
        self.cache = cache
        self.bound = self.cache.bound(snapshot.pods)
        self.nodes = sorted(snapshot.nodes, key=lambda n: n.name)
        self.blocking = blocking_pdbs_by_namespace(snapshot.pdbs)
        self.candidates = self._candidates(set(excluded))
        self.budget, self.above_min = self._pool_limits()
        self.per_pass = self.config.max_disrupted_per_pass
        self.launched_now = launched_now

    # Inputs -------------------------------------------------------------------------------
    def destinations(self) -> list[NodeState]:
        return destinations(self.nodes, self.bound, self.leaving, self.cache)

    def _candidates(self, excluded: set[str]) -> list[CandidateNode]:
        found: list[CandidateNode] = []
        for node in self.nodes:
            pool = self.pools.get(node.pool or "")
            if pool is None or node.name in excluded or node.name in self.leaving:
                continue
            if not node.ready or node.unschedulable or node.deleting:
                continue
            facts = self.cache.facts(node, self.bound.get(node.name, ()))
            found.append(
                CandidateNode(
                    node,
                    pool,
                    facts.moved,
                    facts.blockers(self.blocking),
                    facts.utilization,
                    rotation(node, pool, self.now),
                )
            )
        found.sort(key=CandidateNode.sort_key)
        return found

    def _pool_limits(self) -> tuple[dict[str, int], dict[str, int]]:
        """Per pool: disruptions the budget still allows, and nodes above ``min_nodes``."""
        budget: dict[str, int] = {}
        above_min: dict[str, int] = {}
        for name, pool in self.pools.items():
            assert pool.settings is not None
            members = [n for n in self.nodes if n.pool == name]
            in_flight = sum(1 for n in members if n.deleting or n.name in self.leaving)
            budget[name] = pool.settings.disruption_budget.allowed(len(members)) - in_flight
            above_min[name] = len(members) - in_flight - pool.settings.min_nodes
        return budget, above_min

    # Budgets ------------------------------------------------------------------------------
    def may_take(self, candidate: CandidateNode) -> bool:
        name = candidate.pool.name
        return (
            self.per_pass > 0
            and self.budget.get(name, 0) > 0
            and self.above_min.get(name, 0) > 0
            and not candidate.blocked
        )

    def take(self, candidate: CandidateNode) -> None:
        self.per_pass -= 1
        self.budget[candidate.pool.name] -= 1
        self.above_min[candidate.pool.name] -= 1

    def within_budget(self, candidate: CandidateNode) -> bool:
        return self.per_pass > 0 and self.budget.get(candidate.pool.name, 0) > 0

    def spend_budget(self, pool: str) -> None:
        """One disruption that does not take a node below the pool's minimum (yet)."""
        self.per_pass -= 1
        self.budget[pool] -= 1

    def unneeded_long_enough(self, candidate: CandidateNode) -> bool:
        assert candidate.pool.settings is not None
        waited = self.state.unneeded_since.elapsed(candidate.node.name, self.now)
        return waited >= candidate.pool.settings.scale_down_unneeded_seconds

    # Checks -------------------------------------------------------------------------------
    @staticmethod
    def removal(candidate: CandidateNode, reason: Reason, detail: str) -> Removal:
        return Removal(candidate.node, candidate.pool.name, reason, detail, tuple(candidate.moved))

    def keeps_pods_placed(self, chosen: Sequence[Removal]) -> bool:
        """Whether the next scale-up, after these nodes are gone, launches nothing for their
        pods nor for the pods of nodes already leaving (those move too, and may take room
        first; an empty node may be the room they are waiting for, such as a replacement
        whose old nodes' cordons have not landed yet)."""
        moved = [pod for c in chosen for pod in c.moved]
        leaving_pods = [
            pod for name in self.leaving for pod in movable_pods(self.bound.get(name, ()))
        ]
        if not moved and not leaving_pods:
            return True
        removed = {c.node.name for c in chosen} | self.leaving
        after = without_nodes(self.snapshot, removed, [*leaving_pods, *moved], self.now)
        result = self.plan_scale_up(after, self.scale_up_pools, self.lifecycle.unhealthy)
        return launched_pods(result) <= self.launched_now

    def fit_on_ready_nodes(self, chosen: Sequence[Removal]) -> bool:
        """Whether the pods of ``chosen`` fit on the Ready nodes that stay, now."""
        gone = {c.node.name for c in chosen}
        states = [s for s in self.destinations() if s.name not in gone]
        moved = [pod for c in chosen for pod in c.moved]
        return try_place(moved, states, {s.name: s for s in states}) is not None
