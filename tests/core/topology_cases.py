"""Builders for the topology filter tables: nodes with pods, and a filter over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from autoscaler.api.resources import Resources
from autoscaler.core.model import (
    LabelSelector,
    NodeSelectorTerm,
    Pod,
    PodAffinityTerm,
    Requirement,
    Taint,
    TopologySpreadConstraint,
)
from autoscaler.core.predicates import NodeState
from autoscaler.core.topology_filters import TopologyFilters

NS = "default"
FOO = LabelSelector(match_expressions=(Requirement("foo", "Exists"),))
BAR = LabelSelector(match_expressions=(Requirement("bar", "Exists"),))
NOTHING = LabelSelector(match_expressions=(Requirement("kvpool.io/no-pod", "In", ()),))
BIG = Resources.of(cpu=64_000, memory=256 * 2**30, pods=110)


def labels(*keys: str, **pairs: str) -> dict[str, str]:
    """``labels("foo")`` is ``{"foo": ""}``, as the upstream tests' ``Label("foo", "")``."""
    return {**{k: "" for k in keys}, **pairs}


def pod(
    name: str = "p",
    lbls: Mapping[str, str] | None = None,
    node: str | None = None,
    namespace: str = NS,
    **kw: object,
) -> Pod:
    return Pod(namespace, name, labels=dict(lbls or {}), node_name=node, **kw)  # type: ignore[arg-type]


def spread(
    max_skew: int,
    key: str,
    selector: LabelSelector = FOO,
    min_domains: int = 1,
    honor_affinity: bool = True,
    honor_taints: bool = False,
) -> TopologySpreadConstraint:
    return TopologySpreadConstraint(
        max_skew, key, selector, min_domains, honor_affinity, honor_taints
    )


def node_in(key: str, *values: str) -> tuple[NodeSelectorTerm, ...]:
    return (NodeSelectorTerm((Requirement(key, "In", values),)),)


def node_not_in(key: str, *values: str) -> tuple[NodeSelectorTerm, ...]:
    return (NodeSelectorTerm((Requirement(key, "NotIn", values),)),)


def term(
    key: str,
    operator: str,
    values: Sequence[str],
    topology_key: str,
    namespaces: Sequence[str] = (),
    namespace_selector: LabelSelector | None = None,
) -> PodAffinityTerm:
    selector = LabelSelector(match_expressions=(Requirement(key, operator, tuple(values)),))
    return PodAffinityTerm(selector, topology_key, tuple(namespaces), namespace_selector)


def exists(key: str, topology_key: str) -> PodAffinityTerm:
    return term(key, "Exists", (), topology_key)


def filters_over(
    nodes: Iterable[tuple[str, Mapping[str, str]] | tuple[str, Mapping[str, str], Sequence[Taint]]],
    existing: Iterable[Pod],
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> TopologyFilters:
    """Filters over ``nodes`` (name, labels[, taints]) holding the ``existing`` pods; pods on
    a node not listed are not in the cluster, as in the upstream snapshots."""
    by_node: dict[str, list[Pod]] = {}
    for p in existing:
        assert p.node_name is not None
        by_node.setdefault(p.node_name, []).append(p)
    filters = TopologyFilters(namespace_labels)
    for spec in nodes:
        name, node_labels = spec[0], spec[1]
        taints = spec[2] if len(spec) > 2 else ()  # type: ignore[misc]
        state = NodeState(name, BIG, dict(node_labels), taints, by_node.get(name, ()))
        filters.attach(state)
    return filters
