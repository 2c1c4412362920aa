"""kube-scheduler's PodTopologySpread filter, for ``whenUnsatisfiable: DoNotSchedule``.

As upstream (``pkg/scheduler/framework/plugins/podtopologyspread/filtering.go`` and
``common.go``): a node without a constraint's topology key fails; the pods counted are those
of the incoming pod's namespace that the constraint's selector matches and that are not
terminating, on nodes that carry *every* topology key of the pod's constraints and that pass
the node inclusion policies (``nodeAffinityPolicy: Honor`` counts only nodes the pod's node
selector and required node affinity accept, ``nodeTaintsPolicy: Honor`` only nodes whose
NoSchedule and NoExecute taints it tolerates). The node passes when
``matching pods in its domain + (1 if the pod matches its own selector) - global minimum``
is at most ``maxSkew``, where the global minimum is 0 while fewer than ``minDomains``
domains exist. ``ScheduleAnyway`` constraints, and the scheduler's default constraints
(which are ScheduleAnyway), only score and never reach this filter.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Final

from autoscaler.core.domains import DomainCounts, Domains, Identity, NodeInfo
from autoscaler.core.equivalence import names_its_node
from autoscaler.core.model import HOSTNAME_LABEL, Pod, TopologySpreadConstraint
from autoscaler.core.predicates import label_selector_matches, selector_mismatch, taint_mismatch

CONSTRAINTS_NOT_MATCH: Final = "node(s) didn't match pod topology spread constraints"
NODE_LABEL_MISSING: Final = CONSTRAINTS_NOT_MATCH + " (missing required label)"


def _included(
    pod: Pod, constraint: TopologySpreadConstraint, keys: tuple[str, ...]
) -> Callable[[NodeInfo], bool]:
    """Whether a node counts for ``constraint`` of ``pod``: it has every key of the pod's
    constraints and passes the node inclusion policies."""

    def eligible(node: NodeInfo) -> bool:
        labels = node.labels
        if any(key not in labels for key in keys):
            return False
        if constraint.honor_node_affinity and selector_mismatch(pod, labels, None):
            return False
        return not (constraint.honor_node_taints and taint_mismatch(pod, node.taints))

    if names_its_node(pod):
        return eligible
    # Nodes of one pool differ in little but their hostname: decide once per signature.
    memo: dict[tuple[Hashable, bool], bool] = {}

    def eligible_by_signature(node: NodeInfo) -> bool:
        key = (node.signature, HOSTNAME_LABEL in node.labels)
        found = memo.get(key)
        if found is None:
            found = memo[key] = eligible(node)
        return found

    return eligible_by_signature


def _counts(domains: Domains, pod: Pod, index: int) -> DomainCounts:
    constraints = pod.topology_spread
    constraint = constraints[index]
    keys = tuple(c.topology_key for c in constraints)
    node_affinity: Hashable = (
        (tuple(sorted(pod.node_selector.items())), pod.required_node_affinity)
        if constraint.honor_node_affinity
        else None
    )
    tolerations = pod.tolerations if constraint.honor_node_taints else None
    eligibility = (keys, node_affinity, tolerations)
    key = ("spread", pod.namespace, constraint, eligibility)
    namespace = pod.namespace
    selector = constraint.selector

    def matches(ident: Identity) -> bool:
        ns, labels, terminating = ident
        if ns != namespace or terminating:
            return False
        return label_selector_matches(selector, dict(labels))

    def build() -> tuple[DomainCounts, frozenset[str] | None]:
        eligible = _included(pod, constraint, keys)
        counts = DomainCounts(constraint.topology_key, matches, eligible, True, eligibility)
        return counts, frozenset({namespace})

    return domains.counts(key, build)


def spread_failure(domains: Domains, pod: Pod, node: NodeInfo) -> str | None:
    """Why PodTopologySpread rejects ``node`` for ``pod``, or None."""
    labels = node.labels
    for index, constraint in enumerate(pod.topology_spread):
        value = labels.get(constraint.topology_key)
        if value is None:
            return NODE_LABEL_MISSING
        counts = _counts(domains, pod, index)
        minimum = counts.minimum if len(counts.values) >= constraint.min_domains else 0
        own = 1 if label_selector_matches(constraint.selector, pod.labels) else 0
        if counts.values.get(value, 0) + own - minimum > constraint.max_skew:
            return CONSTRAINTS_NOT_MATCH
    return None
