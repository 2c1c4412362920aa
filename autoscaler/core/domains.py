"""Where the pods of one plan are, by topology domain: the state cluster-wide filters read.

kube-scheduler's PodTopologySpread and InterPodAffinity filters do not look at one node: they
count the pods that match a selector in every topology domain (a value of a node label such as
the zone or the hostname). :class:`Domains` keeps every node of a plan (existing, launching
and not yet created) with the pods on it, and hands out :class:`DomainCounts` that stay exact
while the planner adds and removes pods.

Pods are grouped by identity (namespace, labels, terminating), since a selector can only tell
pods apart by those: a count is built once per identity and node instead of once per pod, and
a placement updates only the counts whose selector matches the placed pod's identity.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from autoscaler.core.model import HOSTNAME_LABEL, Pod, Taint

# (namespace, sorted labels, terminating)
Identity = tuple[str, tuple[tuple[str, str], ...], bool]


def identity(pod: Pod) -> Identity:
    labels = tuple(pod.labels.items())
    if len(labels) > 1:
        labels = tuple(sorted(labels))
    return (pod.namespace, labels, pod.terminating)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the filters see of a node: its labels and taints, and whether it is yet to be
    created by this plan."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...] = ()
    new: bool = False
    # Equal for nodes that no selector can tell apart unless it names the hostname.
    signature: Hashable = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.signature is None:
            labels = frozenset((k, v) for k, v in self.labels.items() if k != HOSTNAME_LABEL)
            object.__setattr__(self, "signature", (labels, self.taints))


class DomainCounts:
    """Pods matching one selector, per value of one topology key, over the eligible nodes.

    With ``zero_domains``, every eligible node's value is a domain even with no matching pod
    (PodTopologySpread); otherwise only values with a match are kept (InterPodAffinity).
    """

    __slots__ = (
        "_freq",
        "_matches",
        "_min",
        "_nodes",
        "eligibility",
        "eligible",
        "key",
        "total",
        "values",
        "zero_domains",
    )

    def __init__(
        self,
        key: str,
        matches: Callable[[Identity], bool],
        eligible: Callable[[NodeInfo], bool],
        zero_domains: bool,
        eligibility: Hashable = None,
    ) -> None:
        """``eligibility`` names ``eligible`` (equal names, equal answers), so that counts
        with the same key and eligibility share their list of domains; None: unique."""
        self.key = key
        self.eligibility = eligibility
        self.eligible = eligible
        self.zero_domains = zero_domains
        self._matches = matches
        self.values: dict[str, int] = {}
        self.total = 0
        self._freq: dict[int, int] = {}  # count -> domains with that count
        self._min: int | None = None
        self._nodes: dict[str, int] = {}  # value -> eligible nodes in it (zero_domains only)

    def matches(self, ident: Identity) -> bool:
        return self._matches(ident)

    def domain_of(self, node: NodeInfo) -> str | None:
        value = node.labels.get(self.key)
        if value is None or not self.eligible(node):
            return None
        return value

    def open_all(self, nodes_per_value: Mapping[str, int]) -> None:
        """Open every domain at once, before any pod is counted."""
        self._nodes = dict(nodes_per_value)
        self.values = dict.fromkeys(nodes_per_value, 0)
        self._freq = {0: len(nodes_per_value)} if nodes_per_value else {}
        self._min = None

    def open(self, value: str) -> None:
        """An eligible node joins the domain ``value``."""
        self._nodes[value] = self._nodes.get(value, 0) + 1
        if value not in self.values:
            self.values[value] = 0
            self._freq[0] = self._freq.get(0, 0) + 1
            self._min = None

    def change(self, value: str, delta: int) -> None:
        old = self.values.get(value)
        if old is None:
            old = 0
            self._freq[0] = self._freq.get(0, 0) + 1
        new = old + delta
        freq = self._freq
        freq[old] -= 1
        if not freq[old]:
            del freq[old]
        self.total += delta
        if new == 0 and not self.zero_domains:
            del self.values[value]
        else:
            self.values[value] = new
            freq[new] = freq.get(new, 0) + 1
        self._min = None

    def leave(self, value: str) -> None:
        """An eligible node (its pods already removed) leaves the domain ``value``; the
        domain goes with its last node."""
        left = self._nodes.get(value, 0) - 1
        if left > 0:
            self._nodes[value] = left
            return
        self._nodes.pop(value, None)
        count = self.values.pop(value, None)
        if count is None:
            return
        self._freq[count] -= 1
        if not self._freq[count]:
            del self._freq[count]
        self.total -= count
        self._min = None

    @property
    def minimum(self) -> int:
        """The smallest count over the domains (0 when there are none)."""
        if self._min is None:
            self._min = min(self._freq, default=0)
        return self._min


class Domains:
    """Every node of a plan and the identities of the pods on it."""

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self._pods: dict[Identity, dict[str, int]] = {}  # identity -> node -> pods
        self._by_namespace: dict[str, set[Identity]] = {}
        self._counts: dict[Hashable, DomainCounts] = {}
        # Counts whose selector may match pods of one namespace; None: of any namespace.
        self._watchers: dict[str | None, list[DomainCounts]] = {}
        # Identity -> the counts that match it (kept for every identity ever placed).
        self._matching: dict[Identity, list[DomainCounts]] = {}
        # (topology key, eligibility) -> value -> eligible nodes: the domains of zero_domains
        # counts, shared by the counts of every selector.
        self._domains: dict[tuple[str, Hashable], DomainCounts] = {}

    # Nodes ------------------------------------------------------------------------------------
    def add_node(self, node: NodeInfo) -> None:
        self.nodes[node.name] = node
        for counts in self._all_zero_domain_counts():
            value = counts.domain_of(node)
            if value is not None:
                counts.open(value)

    def remove_node(self, name: str) -> None:
        """Forget a node and its pods (a planned VM that will not be launched)."""
        node = self.nodes.pop(name, None)
        if node is None:
            return
        for ident, where in self._pods.items():
            count = where.get(name, 0)
            if count:
                self._apply(ident, node, -count)
                del where[name]
        for counts in self._all_zero_domain_counts():
            value = counts.domain_of(node)
            if value is not None:
                counts.leave(value)

    def _all_zero_domain_counts(self) -> Iterable[DomainCounts]:
        yield from self._domains.values()
        for counts in self._counts.values():
            if counts.zero_domains:
                yield counts

    def _open_domains(self, counts: DomainCounts) -> None:
        if counts.eligibility is None:
            for node in self.nodes.values():
                value = counts.domain_of(node)
                if value is not None:
                    counts.open(value)
            return
        shared_key = (counts.key, counts.eligibility)
        shared = self._domains.get(shared_key)
        if shared is None:
            shared = DomainCounts(counts.key, counts.matches, counts.eligible, True)
            for node in self.nodes.values():
                value = shared.domain_of(node)
                if value is not None:
                    shared.open(value)
            self._domains[shared_key] = shared
        counts.open_all(shared._nodes)

    # Pods -------------------------------------------------------------------------------------
    def add(
        self,
        pods: Iterable[Pod],
        node_name: str,
        identity_of: Callable[[Pod], Identity] = identity,
        sign: int = 1,
    ) -> None:
        """Count ``pods`` on the node (``sign`` -1: remove them)."""
        node = self.nodes.get(node_name)
        if node is None:
            return
        batch: dict[Identity, int] = {}
        for pod in pods:
            ident = identity_of(pod)
            batch[ident] = batch.get(ident, 0) + 1
        for ident, count in batch.items():
            where = self._pods.get(ident)
            if where is None:
                where = self._pods[ident] = {}
                self._by_namespace.setdefault(ident[0], set()).add(ident)
            now = where.get(node_name, 0) + sign * count
            if now > 0:
                where[node_name] = now
            else:
                where.pop(node_name, None)
            self._apply(ident, node, sign * count)

    def _apply(self, ident: Identity, node: NodeInfo, delta: int) -> None:
        matching = self._matching.get(ident)
        if matching is None:
            watchers = self._watchers
            matching = self._matching[ident] = [
                counts
                for namespace in (ident[0], None)
                for counts in watchers.get(namespace, ())
                if counts.matches(ident)
            ]
        for counts in matching:
            value = counts.domain_of(node)
            if value is not None:
                counts.change(value, delta)

    # Counts -----------------------------------------------------------------------------------
    def counts(
        self,
        key: Hashable,
        build: Callable[[], tuple[DomainCounts, frozenset[str] | None]],
    ) -> DomainCounts:
        """The counts stored under ``key``; ``build`` makes them the first time and says which
        namespaces their selector can match (None: any)."""
        found = self._counts.get(key)
        if found is not None:
            return found
        counts, namespaces = build()
        if counts.zero_domains:
            self._open_domains(counts)
        if namespaces is None:
            idents: Iterable[Identity] = self._pods
        else:
            idents = [i for ns in namespaces for i in self._by_namespace.get(ns, ())]
        for ident in idents:
            if not counts.matches(ident):
                continue
            self._matching[ident].append(counts)
            for name, count in self._pods[ident].items():
                value = counts.domain_of(self.nodes[name])
                if value is not None and count:
                    counts.change(value, count)
        for namespace in namespaces if namespaces is not None else (None,):
            self._watchers.setdefault(namespace, []).append(counts)
        self._counts[key] = counts
        return counts
