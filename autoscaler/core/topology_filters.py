"""The cluster-wide filters of one plan: topology spread and inter-pod affinity.

Every node a plan may place pods on (existing, launching, and each new VM as the sizing
opens it) is attached; from then on the node asks these filters about every pod and reports
every pod it takes, so that the counts per topology domain stay exact as the plan proceeds.
(A pending pod whose constraints could not be read is not planned at all: see
``core/unmodelled.py``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from autoscaler.core.domains import Domains, Identity, NodeInfo, identity
from autoscaler.core.interpod import InterPodAffinity
from autoscaler.core.model import HOSTNAME_LABEL, Pod, Taint
from autoscaler.core.predicates import NodeState
from autoscaler.core.topology_spread import spread_failure


def needs_topology_filters(pods: Iterable[Pod]) -> bool:
    """Whether some pod has a constraint only cluster-wide filters can decide: topology
    spread, pod affinity, anti-affinity on a key other than the hostname or a namespace
    selector."""
    for pod in pods:
        if pod.topology_spread or pod.required_affinity:
            return True
        for term in pod.required_anti_affinity:
            if term.topology_key != HOSTNAME_LABEL or term.namespace_selector is not None:
                return True
    return False


class TopologyFilters:
    """:class:`~autoscaler.core.predicates.ClusterFilters` over the nodes attached."""

    def __init__(self, namespace_labels: Mapping[str, Mapping[str, str]] | None = None) -> None:
        self.domains = Domains()
        self.interpod = InterPodAffinity(self.domains, namespace_labels or {})
        self._idents: dict[int, tuple[Pod, Identity]] = {}

    def identity(self, pod: Pod) -> Identity:
        # By object: the pods of a plan live as long as the plan (the entry keeps it so).
        found = self._idents.get(id(pod))
        if found is None:
            found = self._idents[id(pod)] = (pod, identity(pod))
        return found[1]

    def unused_name(self, name: str) -> str:
        """``name``, or ``name`` with a suffix if a node of the plan already has it."""
        nodes = self.domains.nodes
        candidate, suffix = name, 1
        while candidate in nodes:
            suffix += 1
            candidate = f"{name}-{suffix}"
        return candidate

    def add_node(
        self,
        name: str,
        labels: Mapping[str, str],
        taints: Sequence[Taint],
        pods: Sequence[Pod],
    ) -> None:
        """A node that takes no pods in this plan but holds a topology domain and pods that
        count (cordoned, NotReady, being deleted): the scheduler counts them too."""
        self.domains.add_node(NodeInfo(name, labels, tuple(taints), False))
        if pods:
            self.placed(pods, name)

    def attach(self, state: NodeState, new: bool = False) -> None:
        """Make ``state`` (with the pods on it) part of the plan; ``new``: a VM this plan
        would create."""
        self.domains.add_node(
            NodeInfo(state.name, state.labels, state.taints, new, state.signature[:2])
        )
        state.cluster = self
        if state.pods:
            self.placed(state.pods, state.name)

    def detach(self, state: NodeState) -> None:
        """Forget a node the plan will not create after all, and its pods."""
        self.remove_node(state.name)
        state.cluster = None

    def remove_node(self, name: str) -> None:
        self.domains.remove_node(name)

    # ClusterFilters ---------------------------------------------------------------------------
    def placed(self, pods: Sequence[Pod], node: str, sign: int = 1) -> None:
        info = self.domains.nodes.get(node)
        if info is None:
            return
        self.domains.add(pods, node, identity, sign)
        self.interpod.placed(pods, info, sign)

    def failure(self, pod: Pod, node: str) -> str | None:
        info = self.domains.nodes.get(node)
        if info is None:
            return None
        if pod.topology_spread:
            reason = spread_failure(self.domains, pod, info)
            if reason:
                return reason
        return self.interpod.failure(pod, self.identity(pod), info)

    @property
    def reaches_every_pod(self) -> bool:
        return self.interpod.has_owners
