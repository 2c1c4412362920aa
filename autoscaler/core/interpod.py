"""kube-scheduler's InterPodAffinity filter: required pod affinity and anti-affinity.

As upstream (``pkg/scheduler/framework/plugins/interpodaffinity/filtering.go``), on any
topology key:

- affinity: the node must carry every term's topology key, and in each term's domain there
  must be a pod that matches *all* the terms. The first pod of a group that has affinity to
  itself passes anyway when no pod anywhere matches all the terms and the pod matches them
  itself;
- anti-affinity: no pod that a term selects may be in the node's domain of that term;
- the anti-affinity of pods already placed: no placed pod's term may select the incoming pod
  in a domain the node belongs to.

A term selects pods by label selector in its namespaces (see
:func:`~autoscaler.core.predicates.term_covers_namespace`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from autoscaler.core.domains import DomainCounts, Domains, Identity, NodeInfo
from autoscaler.core.model import Pod, PodAffinityTerm
from autoscaler.core.predicates import (
    ANTI_AFFINITY_MISMATCH,
    EXISTING_ANTI_AFFINITY,
    label_selector_matches,
    term_covers_namespace,
)

AFFINITY_MISMATCH: Final = "node(s) didn't match pod affinity rules"


def _always(node: NodeInfo) -> bool:
    return True


class InterPodAffinity:
    """The filter, over the nodes and pods of one :class:`Domains`."""

    def __init__(self, domains: Domains, namespace_labels: Mapping[str, Mapping[str, str]]) -> None:
        self.domains = domains
        self.namespace_labels = namespace_labels
        # (topology key, value) -> (owner namespace, term) -> placed pods with that term there
        self._owners: dict[tuple[str, str], dict[tuple[str, PodAffinityTerm], int]] = {}
        self._owner_keys: dict[str, int] = {}  # topology key -> terms placed with it
        self._selects_memo: dict[tuple[str, PodAffinityTerm, Identity], bool] = {}

    @property
    def has_owners(self) -> bool:
        """Whether a placed pod has required anti-affinity."""
        return any(count > 0 for count in self._owner_keys.values())

    def selects(self, owner_namespace: str, term: PodAffinityTerm, ident: Identity) -> bool:
        memo_key = (owner_namespace, term, ident)
        found = self._selects_memo.get(memo_key)
        if found is None:
            namespace, labels, _ = ident
            found = term_covers_namespace(
                term, owner_namespace, namespace, self.namespace_labels
            ) and label_selector_matches(term.selector, dict(labels))
            self._selects_memo[memo_key] = found
        return found

    def placed(self, pods: Iterable[Pod], node: NodeInfo, sign: int) -> None:
        """Track the anti-affinity terms of pods placed on (or removed from) ``node``."""
        for pod in pods:
            for term in pod.required_anti_affinity:
                key = term.topology_key
                value = node.labels.get(key)
                if value is None:
                    continue
                where = self._owners.setdefault((key, value), {})
                owner = (pod.namespace, term)
                count = where.get(owner, 0) + sign
                if count > 0:
                    where[owner] = count
                else:
                    where.pop(owner, None)
                self._owner_keys[key] = self._owner_keys.get(key, 0) + sign

    # Counts of the incoming pod's terms ------------------------------------------------------
    def _namespaces(
        self, owner_namespace: str, terms: Iterable[PodAffinityTerm]
    ) -> frozenset[str] | None:
        """Namespaces a pod must be in to match all ``terms``: those of the first term with a
        fixed set (None when every term has a namespace selector)."""
        for term in terms:
            if term.namespace_selector is None:
                return frozenset(term.namespaces or (owner_namespace,))
        return None

    def _affinity_counts(self, pod: Pod, index: int) -> DomainCounts:
        terms = pod.required_affinity
        owner = pod.namespace

        def matches(ident: Identity) -> bool:
            return all(self.selects(owner, term, ident) for term in terms)

        def build() -> tuple[DomainCounts, frozenset[str] | None]:
            counts = DomainCounts(terms[index].topology_key, matches, _always, False)
            return counts, self._namespaces(owner, terms)

        return self.domains.counts(("affinity", owner, terms, index), build)

    def _anti_counts(self, pod: Pod, term: PodAffinityTerm) -> DomainCounts:
        owner = pod.namespace

        def matches(ident: Identity) -> bool:
            return self.selects(owner, term, ident)

        def build() -> tuple[DomainCounts, frozenset[str] | None]:
            counts = DomainCounts(term.topology_key, matches, _always, False)
            return counts, self._namespaces(owner, (term,))

        return self.domains.counts(("anti", owner, term), build)

    # The filter -------------------------------------------------------------------------------
    def failure(self, pod: Pod, ident: Identity, node: NodeInfo) -> str | None:
        labels = node.labels
        if pod.required_affinity and not self._affinity_holds(pod, ident, labels):
            return AFFINITY_MISMATCH
        for term in pod.required_anti_affinity:
            value = labels.get(term.topology_key)
            if value is not None and self._anti_counts(pod, term).values.get(value, 0) > 0:
                return ANTI_AFFINITY_MISMATCH
        for key, count in self._owner_keys.items():
            if count <= 0:
                continue
            value = labels.get(key)
            if value is None:
                continue
            for owner_namespace, term in self._owners.get((key, value), {}):
                if self.selects(owner_namespace, term, ident):
                    return EXISTING_ANTI_AFFINITY
        return None

    def _affinity_holds(self, pod: Pod, ident: Identity, labels: Mapping[str, str]) -> bool:
        terms = pod.required_affinity
        found_everywhere = True
        counts = []
        for index, term in enumerate(terms):
            value = labels.get(term.topology_key)
            if value is None:
                return False
            term_counts = self._affinity_counts(pod, index)
            counts.append(term_counts)
            if term_counts.values.get(value, 0) <= 0:
                found_everywhere = False
        if found_everywhere:
            return True
        # The first pod of a group with affinity to itself.
        return all(c.total == 0 for c in counts) and all(
            self.selects(pod.namespace, term, ident) for term in terms
        )
