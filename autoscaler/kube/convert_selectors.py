"""Scheduling constraints of raw pods and nodes: label and node selectors, node affinity, pod
(anti-)affinity, topology spread constraints, tolerations and host ports.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from autoscaler.core.model import (
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    PodAffinityTerm,
    Requirement,
    TaintEffect,
    Toleration,
    TopologySpreadConstraint,
)
from autoscaler.kube.convert_reader import (
    Reader,
    guarded,
    type_name,
)
from autoscaler.kube.convert_requests import RESTART_ALWAYS

LABEL_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})

# A policy/v1 PodDisruptionBudget with a null selector selects no pod; an empty one selects all.
# "In" with no values can never hold, which is how "nothing" is spelt in a LabelSelector.
MATCH_NOTHING = LabelSelector(match_expressions=(Requirement("kvpool.io/no-pod", "In", ()),))


def _requirement(r: Reader, expr: dict[str, Any], path: str) -> Requirement:
    values = r.items(expr, "values", f"{path}.values")
    for index, value in enumerate(values):
        if not isinstance(value, str):
            raise r.error(f"{path}.values[{index}]", "expected a string")
    return Requirement(
        key=sys.intern(r.string(expr, "key", f"{path}.key")),
        operator=sys.intern(r.string(expr, "operator", f"{path}.operator")),
        values=tuple(values),
    )


def _requirements(
    r: Reader, term: dict[str, Any], key: str, path: str, operators: frozenset[str] | None
) -> tuple[Requirement, ...]:
    """The requirements of a selector. With ``operators`` an unknown operator is an error;
    without, it is kept (a node selector term that holds one matches no node)."""
    result = []
    for item_path, expr in r.objects(term, key, path):
        requirement = _requirement(r, expr, item_path)
        if operators is not None and requirement.operator not in operators:
            raise r.error(
                f"{item_path}.operator",
                f"{requirement.operator!r} is not one of {', '.join(sorted(operators))}",
            )
        result.append(requirement)
    return tuple(result)


def label_selector(r: Reader, selector: dict[str, Any], path: str) -> LabelSelector:
    labels = r.mapping(selector, "matchLabels", f"{path}.matchLabels")
    for k, v in labels.items():
        if not isinstance(v, str):
            raise r.error(f"{path}.matchLabels.{k}", f"expected a string, got {type_name(v)}")
    expressions = _requirements(
        r, selector, "matchExpressions", f"{path}.matchExpressions", LABEL_SELECTOR_OPERATORS
    )
    return LabelSelector(match_labels=tuple(sorted(labels.items())), match_expressions=expressions)


# A node selector term that matches no node: what a term that cannot be read becomes.
NO_NODE = NodeSelectorTerm()


def _node_selector_term(r: Reader, term: dict[str, Any], path: str) -> NodeSelectorTerm:
    return NodeSelectorTerm(
        match_expressions=_requirements(
            r, term, "matchExpressions", f"{path}.matchExpressions", None
        ),
        match_fields=_requirements(r, term, "matchFields", f"{path}.matchFields", None),
    )


def read_node_affinity(r: Reader, affinity: dict[str, Any]) -> tuple[NodeSelectorTerm, ...]:
    """The required terms, ORed. A required node selector with no term that can match (none
    at all, only empty ones) becomes one empty term, which matches no node, as in
    kube-scheduler; an unreadable term is noted and matches no node."""
    base = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    node_affinity = r.mapping(affinity, "nodeAffinity", "spec.affinity.nodeAffinity")
    if node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") is None:
        return ()
    required = r.mapping(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", base)
    return node_selector_terms(r, required, base)


def node_selector_terms(
    r: Reader, required: dict[str, Any], base: str
) -> tuple[NodeSelectorTerm, ...]:
    """The terms of a v1 NodeSelector (``nodeSelectorTerms``) found at ``base``."""
    terms = []
    for path, term in r.each(required, "nodeSelectorTerms", f"{base}.nodeSelectorTerms"):
        terms.append(guarded(r, NO_NODE, _node_selector_term, term, path))
    return tuple(terms) or (NO_NODE,)


def _strings(r: Reader, obj: dict[str, Any], key: str, path: str) -> list[str]:
    values = r.items(obj, key, path)
    if not all(isinstance(v, str) for v in values):
        raise r.error(path, "expected a list of strings")
    return values


def _with_pod_labels(
    selector: LabelSelector,
    labels: Mapping[str, str],
    keys: Iterable[str],
    operator: str,
) -> LabelSelector:
    """``selector`` ANDed with ``key <operator> (the pod's value)`` for each of ``keys`` the
    pod has (``matchLabelKeys``: In, ``mismatchLabelKeys``: NotIn). A null selector
    (MATCH_NOTHING) becomes the set of those labels, as the scheduler merges it."""
    found = tuple(Requirement(k, operator, (labels[k],)) for k in keys if k in labels)
    if not found:
        return selector
    if selector == MATCH_NOTHING:
        return LabelSelector(match_expressions=found)
    extra = tuple(req for req in found if req not in selector.match_expressions)
    return replace(selector, match_expressions=selector.match_expressions + extra)


def read_pod_affinity(
    r: Reader, affinity: dict[str, Any], kind: str, labels: Mapping[str, str]
) -> tuple[PodAffinityTerm, ...]:
    """The required terms of ``podAffinity`` or ``podAntiAffinity``; a term that cannot be
    read is noted (so a pending pod is not planned) and left out."""
    group = r.mapping(affinity, kind, f"spec.affinity.{kind}")
    base = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
    terms = []
    for path, term in r.each(group, "requiredDuringSchedulingIgnoredDuringExecution", base):
        read = guarded(r, None, _pod_affinity_term, term, path, kind, labels)
        if read is not None:
            terms.append(read)
    return tuple(terms)


def _pod_affinity_term(
    r: Reader, term: dict[str, Any], path: str, kind: str, labels: Mapping[str, str]
) -> PodAffinityTerm | None:
    """A term without a label selector selects no pod: an anti-affinity term then never
    refuses a node (and is dropped), an affinity term refuses every node."""
    if term.get("labelSelector") is None:
        if kind == "podAntiAffinity":
            return None
        selector = MATCH_NOTHING
    else:
        selector = label_selector(
            r, r.mapping(term, "labelSelector", f"{path}.labelSelector"), f"{path}.labelSelector"
        )
    # The API server merges these into the selector when it admits the pod; merging again
    # changes nothing, and covers pods that did not go through it.
    selector = _with_pod_labels(
        selector, labels, _strings(r, term, "matchLabelKeys", f"{path}.matchLabelKeys"), "In"
    )
    selector = _with_pod_labels(
        selector,
        labels,
        _strings(r, term, "mismatchLabelKeys", f"{path}.mismatchLabelKeys"),
        "NotIn",
    )
    namespace_selector = None
    if term.get("namespaceSelector") is not None:
        namespace_selector = label_selector(
            r,
            r.mapping(term, "namespaceSelector", f"{path}.namespaceSelector"),
            f"{path}.namespaceSelector",
        )
    topology_key = r.string(term, "topologyKey", f"{path}.topologyKey")
    if not topology_key:
        raise r.error(f"{path}.topologyKey", "must not be empty")
    return PodAffinityTerm(
        selector=selector,
        topology_key=sys.intern(topology_key),
        namespaces=tuple(_strings(r, term, "namespaces", f"{path}.namespaces")),
        namespace_selector=namespace_selector,
    )


_INCLUSION_POLICIES = {"Honor": True, "Ignore": False}
_POLICY_DEFAULTS = (("nodeAffinityPolicy", "Honor"), ("nodeTaintsPolicy", "Ignore"))


def read_spread_constraints(
    r: Reader, spec: dict[str, Any], labels: Mapping[str, str]
) -> tuple[TopologySpreadConstraint, ...]:
    """The DoNotSchedule topology spread constraints (ScheduleAnyway only scores); one that
    cannot be read is noted (so a pending pod is not planned) and left out."""
    result = []
    for path, item in r.each(spec, "topologySpreadConstraints", "spec.topologySpreadConstraints"):
        read = guarded(r, None, _spread_constraint, item, path, labels)
        if read is not None:
            result.append(read)
    return tuple(result)


def _spread_constraint(
    r: Reader, item: dict[str, Any], path: str, labels: Mapping[str, str]
) -> TopologySpreadConstraint | None:
    when = r.string(item, "whenUnsatisfiable", f"{path}.whenUnsatisfiable")
    if when == "ScheduleAnyway":
        return None
    if when != "DoNotSchedule":
        raise r.error(
            f"{path}.whenUnsatisfiable", f"{when!r} is not DoNotSchedule or ScheduleAnyway"
        )
    max_skew = r.integer(item, "maxSkew", f"{path}.maxSkew")
    if max_skew < 1:
        raise r.error(f"{path}.maxSkew", f"{max_skew} is not a positive integer")
    min_domains = r.integer(item, "minDomains", f"{path}.minDomains", 1)
    if min_domains < 1:
        raise r.error(f"{path}.minDomains", f"{min_domains} is not a positive integer")
    topology_key = r.string(item, "topologyKey", f"{path}.topologyKey")
    if not topology_key:
        raise r.error(f"{path}.topologyKey", "must not be empty")
    policies = []
    for field_name, default in _POLICY_DEFAULTS:
        text = r.string(item, field_name, f"{path}.{field_name}", default)
        if text not in _INCLUSION_POLICIES:
            raise r.error(f"{path}.{field_name}", f"{text!r} is not Honor or Ignore")
        policies.append(_INCLUSION_POLICIES[text])
    selector = MATCH_NOTHING
    if item.get("labelSelector") is not None:
        selector = label_selector(
            r, r.mapping(item, "labelSelector", f"{path}.labelSelector"), f"{path}.labelSelector"
        )
    selector = _with_pod_labels(
        selector, labels, _strings(r, item, "matchLabelKeys", f"{path}.matchLabelKeys"), "In"
    )
    return TopologySpreadConstraint(
        max_skew=max_skew,
        topology_key=sys.intern(topology_key),
        selector=selector,
        min_domains=min_domains,
        honor_node_affinity=policies[0],
        honor_node_taints=policies[1],
    )


def _toleration(r: Reader, item: dict[str, Any], path: str) -> Toleration:
    # Every operator and effect is kept as written: ToleratesTaint compares the text, and an
    # operator it does not know tolerates nothing.
    effect = r.string(item, "effect", f"{path}.effect")
    return Toleration(
        key=sys.intern(r.string(item, "key", f"{path}.key")),
        operator=sys.intern(r.string(item, "operator", f"{path}.operator", "Equal")),
        value=r.string(item, "value", f"{path}.value"),
        effect=sys.intern(effect) if effect else None,
    )


def read_tolerations(r: Reader, spec: dict[str, Any]) -> tuple[Toleration, ...]:
    result = []
    for path, item in r.each(spec, "tolerations", "spec.tolerations"):
        toleration = guarded(r, None, _toleration, item, path)
        if toleration is not None:
            result.append(toleration)
    return tuple(result)


def taint_effect(text: str) -> str:
    try:
        return TaintEffect(text)
    except ValueError:
        return sys.intern(text)


def read_host_ports(r: Reader, spec: dict[str, Any]) -> tuple[HostPort, ...]:
    ports = []
    containers = list(r.each(spec, "containers", "spec.containers"))
    containers += [
        (path, c)
        for path, c in r.each(spec, "initContainers", "spec.initContainers")
        if c.get("restartPolicy") == RESTART_ALWAYS
    ]
    for path, container in containers:
        for port_path, port in r.each(container, "ports", f"{path}.ports"):
            read = guarded(r, None, _host_port, port, port_path)
            if read is not None:
                ports.append(read)
    return tuple(ports)


def _host_port(r: Reader, port: dict[str, Any], path: str) -> HostPort | None:
    host_port = r.integer(port, "hostPort", f"{path}.hostPort")
    if host_port <= 0:
        return None
    if host_port > 65535:
        raise r.error(f"{path}.hostPort", f"{host_port} is not a port number")
    return HostPort(
        port=host_port,
        protocol=r.string(port, "protocol", f"{path}.protocol", "TCP"),
        host_ip=r.string(port, "hostIP", f"{path}.hostIP") or "0.0.0.0",
    )
