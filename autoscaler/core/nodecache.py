"""Per-node work that every decision repeats, kept from one pass to the next.

A pass looks at every node: which pods are bound to it, which of them a drain would move and
whether one blocks it, how full it is, and a NodeState to simulate placements on. Between two
passes most nodes and their pods do not change, and the informers and the simulator hand over
the very same frozen objects when nothing changed. So the facts of a node are kept and reused
while the node and its bound pods compare equal to what they were computed from (identity is
checked first, which makes the comparison cheap); anything else computes them afresh.
Entries of nodes that left the snapshot are dropped by :meth:`NodeCache.begin`.

A cache built with ``enabled=False`` computes everything afresh on every call: decisions made
with and without reuse must be identical, and the tests compare both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from autoscaler.core.eviction import Blocker, movable_pods, node_blockers
from autoscaler.core.model import Node, Pod, PodDisruptionBudget, Snapshot
from autoscaler.core.pending import pending_pods
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import bound_pods_by_node


def utilization(node: Node, pods: Iterable[Pod]) -> float:
    """max(cpu, memory) requested by ``pods`` (all on the node, DaemonSet pods included) over
    the node's allocatable; a resource the node lacks counts as full once requested."""
    cpu = memory = 0
    for pod in pods:
        cpu += pod.requests.cpu
        memory += pod.requests.memory
    alloc = node.allocatable
    ratios = [
        used / total if total > 0 else (1.0 if used > 0 else 0.0)
        for used, total in ((cpu, alloc.cpu), (memory, alloc.memory))
    ]
    return max(ratios)


def blocking_pdbs_by_namespace(
    pdbs: Iterable[PodDisruptionBudget],
) -> dict[str, tuple[PodDisruptionBudget, ...]]:
    """The budgets that allow no disruption now, per namespace (the others never block)."""
    by_namespace: dict[str, list[PodDisruptionBudget]] = {}
    for pdb in pdbs:
        if pdb.disruptions_allowed <= 0:
            by_namespace.setdefault(pdb.namespace, []).append(pdb)
    return {ns: tuple(found) for ns, found in by_namespace.items()}


@dataclass(slots=True)
class NodeFacts:
    """What a pass derives from one node and the pods bound to it. Read-only for callers."""

    node: Node
    pods: tuple[Pod, ...]  # bound, not terminal, in snapshot order
    moved: list[Pod]  # the pods a drain evicts
    utilization: float
    namespaces: tuple[str, ...]  # of the moved pods, sorted
    _state: NodeState | None = None
    _blocking: tuple[PodDisruptionBudget, ...] | None = None
    _blockers: list[Blocker] = field(default_factory=list)

    def state(self) -> NodeState:
        """A fresh NodeState of the node with its pods, for the caller to mutate."""
        if self._state is None:
            self._state = NodeState.from_node(self.node, self.pods)
            _ = self._state.signature  # computed once, shared by every copy
        return self._state.copy()

    def blockers(self, blocking: Mapping[str, tuple[PodDisruptionBudget, ...]]) -> list[Blocker]:
        """The moved pods that block a drain, given the budgets of
        :func:`blocking_pdbs_by_namespace`."""
        relevant = tuple(pdb for ns in self.namespaces for pdb in blocking.get(ns, ()))
        if self._blocking is None or self._blocking != relevant:
            self._blockers = node_blockers(self.moved, relevant)
            self._blocking = relevant
        return self._blockers


def node_facts(node: Node, pods: Sequence[Pod]) -> NodeFacts:
    moved = movable_pods(pods)
    return NodeFacts(
        node=node,
        pods=tuple(pods),
        moved=moved,
        utilization=utilization(node, pods),
        namespaces=tuple(sorted({pod.namespace for pod in moved})),
    )


class NodeCache:
    """Facts per node name, reused while the node and its bound pods are unchanged."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._facts: dict[str, NodeFacts] = {}
        # Derived once from the pods of the snapshot of the current pass.
        self._pods: tuple[Pod, ...] | None = None
        self._bound: dict[str, tuple[Pod, ...]] | None = None
        self._pending: dict[frozenset[str], list[Pod]] = {}
        self._anti_affinity: bool | None = None
        self.hits = 0
        self.misses = 0

    def bound(self, pods: tuple[Pod, ...]) -> Mapping[str, Sequence[Pod]]:
        """:func:`bound_pods_by_node` of a snapshot's pods; computed once for the pods of the
        snapshot given to :meth:`begin`, which a pass asks about several times. Callers must
        not mutate the answer."""
        if not self.enabled or pods is not self._pods:
            return bound_pods_by_node(pods)
        if self._bound is None:
            # Tuples, which :meth:`facts` compares with the cached ones at C speed.
            self._bound = {n: tuple(on) for n, on in bound_pods_by_node(pods).items()}
        return self._bound

    def pending(self, pods: tuple[Pod, ...], schedulers: frozenset[str]) -> Sequence[Pod]:
        """:func:`pending_pods`, computed once per pass like :meth:`bound`."""
        if not self.enabled or pods is not self._pods:
            return pending_pods(pods, schedulers)
        found = self._pending.get(schedulers)
        if found is None:
            found = self._pending[schedulers] = pending_pods(pods, schedulers)
        return found

    def any_anti_affinity(self, pods: tuple[Pod, ...]) -> bool:
        """Whether some pod has required anti-affinity, computed once per pass."""
        if not self.enabled or pods is not self._pods:
            return any(p.required_anti_affinity for p in pods)
        if self._anti_affinity is None:
            self._anti_affinity = any(p.required_anti_affinity for p in pods)
        return self._anti_affinity

    def facts(self, node: Node, pods: Sequence[Pod]) -> NodeFacts:
        """The facts of ``node`` carrying ``pods`` (its bound pods, in snapshot order)."""
        if not self.enabled:
            return node_facts(node, pods)
        pods = pods if isinstance(pods, tuple) else tuple(pods)
        cached = self._facts.get(node.name)
        # Tuple equality compares elements by identity first: unchanged pods cost nothing.
        if (
            cached is not None
            and (cached.node is node or cached.node == node)
            and cached.pods == pods
        ):
            self.hits += 1
            return cached
        self.misses += 1
        fresh = self._facts[node.name] = node_facts(node, pods)
        return fresh

    def state(self, node: Node, pods: Sequence[Pod]) -> NodeState:
        """A NodeState of ``node`` with ``pods`` on it, the caller's own to mutate."""
        if not self.enabled:
            return NodeState.from_node(node, pods)
        return self.facts(node, pods).state()

    def begin(self, snapshot: Snapshot) -> None:
        """Start a pass over ``snapshot``: forget the nodes it no longer has."""
        present = {node.name for node in snapshot.nodes}
        for name in [name for name in self._facts if name not in present]:
            del self._facts[name]
        self._pods = snapshot.pods
        self._bound = None
        self._pending = {}
        self._anti_affinity = None
