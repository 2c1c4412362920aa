"""Raw Kubernetes JSON (as the API server returns it) to the core's frozen, compact types.

Only what a decision needs is kept. Every converter checks the types of the fields it reads.
An object is never dropped because one of its fields cannot be read: the field falls back to
its most cautious reading and its path (with the problem) goes to the object's ``unmodelled``,
which the core acts on (a bound pod keeps its node, a pending pod is not planned for) and the
informer logs once per object version. Only an object without a name or namespace, which
cannot be kept at all, raises :class:`ConversionError`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord, decode_disruption
from autoscaler.api.quantity import QuantityError, parse_json
from autoscaler.api.resources import EMPTY, Resources, counted_by_scheduler, units_of
from autoscaler.core.model import (
    DEFAULT_SCHEDULER,
    DO_NOT_DISRUPT_ANNOTATION,
    HOSTNAME_LABEL,
    SAFE_TO_EVICT_ANNOTATIONS,
    DaemonSet,
    HostPort,
    LabelSelector,
    Namespace,
    Node,
    NodeSelectorTerm,
    Pod,
    PodAffinityTerm,
    PodDisruptionBudget,
    PodPhase,
    Requirement,
    Taint,
    TaintEffect,
    Toleration,
    TopologySpreadConstraint,
)

LABEL_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})

# A policy/v1 PodDisruptionBudget with a null selector selects no pod; an empty one selects all.
# "In" with no values can never hold, which is how "nothing" is spelt in a LabelSelector.
MATCH_NOTHING = LabelSelector(match_expressions=(Requirement("kvpool.io/no-pod", "In", ()),))

# The DaemonSet controller adds these tolerations to every pod it creates.
_DAEMONSET_TOLERATIONS = (
    Toleration("node.kubernetes.io/not-ready", "Exists", effect=TaintEffect.NO_EXECUTE),
    Toleration("node.kubernetes.io/unreachable", "Exists", effect=TaintEffect.NO_EXECUTE),
    Toleration("node.kubernetes.io/disk-pressure", "Exists", effect=TaintEffect.NO_SCHEDULE),
    Toleration("node.kubernetes.io/memory-pressure", "Exists", effect=TaintEffect.NO_SCHEDULE),
    Toleration("node.kubernetes.io/pid-pressure", "Exists", effect=TaintEffect.NO_SCHEDULE),
    Toleration("node.kubernetes.io/unschedulable", "Exists", effect=TaintEffect.NO_SCHEDULE),
)
_HOST_NETWORK_TOLERATION = Toleration(
    "node.kubernetes.io/network-unavailable", "Exists", effect=TaintEffect.NO_SCHEDULE
)


class ConversionError(ValueError):
    """A Kubernetes object that cannot be converted; names the object and the field."""

    def __init__(self, kind: str, name: str, field: str, problem: str) -> None:
        super().__init__(f"{kind} {name}: {field}: {problem}")
        self.kind = kind
        self.name = name
        self.field = field
        self.problem = problem


def object_name(obj: Any) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped) of a raw object, for messages."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return "<no metadata>"
    name = meta.get("name")
    namespace = meta.get("namespace")
    name_text = name if isinstance(name, str) and name else "<unnamed>"
    return f"{namespace}/{name_text}" if isinstance(namespace, str) and namespace else name_text


class _Reader:
    """Typed access to one raw object's fields; errors name the object and the field path."""

    __slots__ = ("kind", "name", "notes", "prefix")

    def __init__(self, kind: str, obj: Any) -> None:
        self.kind = kind
        self.name = object_name(obj)
        self.prefix = ""  # where the fields being read sit inside the object
        self.notes: list[str] = []  # "path: problem" of every field that could not be read
        if not isinstance(obj, dict):
            raise ConversionError(kind, self.name, "<root>", f"expected an object, got {obj!r:.60}")

    def error(self, path: str, problem: str) -> ConversionError:
        return ConversionError(self.kind, self.name, self.prefix + path, problem)

    def note(self, error: ConversionError) -> None:
        """Record a field that could not be read; the caller goes on with a cautious value."""
        text = f"{error.field}: {error.problem}"
        self.notes.append(text if len(text) <= 160 else text[:157] + "...")

    def unmodelled(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.notes))

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {_type_name(value)}")
        return value

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(path, f"expected a list, got {_type_name(value)}")
        return value

    def objects(self, obj: Mapping[str, Any], key: str, path: str) -> Iterable[tuple[str, Any]]:
        for index, item in enumerate(self.items(obj, key, path)):
            item_path = f"{path}[{index}]"
            if not isinstance(item, dict):
                raise self.error(item_path, f"expected an object, got {_type_name(item)}")
            yield item_path, item

    def each(self, obj: Mapping[str, Any], key: str, path: str) -> Iterable[tuple[str, Any]]:
        """Like :meth:`objects`, but an item (or a list) that is not an object is noted and
        skipped instead of failing the whole list."""
        try:
            items = self.items(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            if isinstance(item, dict):
                yield item_path, item
            else:
                self.note(self.error(item_path, f"expected an object, got {_type_name(item)}"))

    def string(self, obj: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {_type_name(value)}")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str, default: int = 0) -> int:
        value = obj.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {_type_name(value)}")
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {_type_name(value)}")
        return value

    def string_map(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """A map of strings; an entry whose value is not a string is noted and left out."""
        try:
            raw = self.mapping(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return {}
        result = {}
        for k, v in raw.items():
            if isinstance(v, str):
                result[sys.intern(k)] = sys.intern(v)
            else:
                self.note(self.error(f"{path}.{k}", f"expected a string, got {_type_name(v)}"))
        return result

    def amounts(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Decimal]:
        """A resource list as exact amounts; a quantity that does not parse is noted and left
        out (the rest still counts)."""
        try:
            raw = self.mapping(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return {}
        amounts = {}
        for name, quantity in raw.items():
            if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
                self.note(self.error(f"{path}.{name}", f"{quantity!r:.40} is not a quantity"))
                continue
            try:
                amounts[sys.intern(name)] = _amount(quantity)
            except QuantityError as exc:
                self.note(self.error(f"{path}.{name}", str(exc)))
        return amounts

    def resources(self, obj: Mapping[str, Any], key: str, path: str) -> Resources:
        amounts = self.amounts(obj, key, path)
        if not amounts:
            return EMPTY
        return Resources({name: _units(name, value) for name, value in amounts.items()})

    def timestamp(self, obj: Mapping[str, Any], key: str, path: str) -> float | None:
        value = self.string(obj, key, path)
        if not value:
            return None
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise self.error(path, f"{value!r} is not an RFC 3339 time") from None


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _parse_amount(quantity: str | int | float) -> Decimal:
    return parse_json(quantity).value


# Pods repeat the same few quantities ("100m", "1Gi"); parsing each once saves most of the cost.
_amount = functools.lru_cache(maxsize=8192)(_parse_amount)
_units = functools.lru_cache(maxsize=8192)(units_of)
_counted = functools.lru_cache(maxsize=1024)(counted_by_scheduler)


def _guarded(r: _Reader, fallback: Any, read: Any, *args: Any) -> Any:
    """``read(r, *args)``, or ``fallback`` with the problem noted when a field is unreadable."""
    try:
        return read(r, *args)
    except ConversionError as exc:
        r.note(exc)
        return fallback


# Pods -------------------------------------------------------------------------------------

Amounts = dict[str, Decimal]

# Pod-level resources (spec.resources) may set these; any other name there is ignored.
_POD_LEVEL = ("cpu", "memory")
_RESTART_ALWAYS = "Always"


def _add(total: Amounts, more: Mapping[str, Decimal]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, Decimal(0)) + value


def _max(total: Amounts, other: Mapping[str, Decimal]) -> None:
    for name, value in other.items():
        if name not in total or value > total[name]:
            total[name] = value


def _container_requests(
    r: _Reader, container: dict[str, Any], path: str, status: Mapping[str, Any] | None
) -> Amounts:
    """One container's requests; with its status (in-place resize), the larger of what the
    spec asks, what the kubelet runs and what it allocated, per resource."""
    resources = _guarded(r, {}, _Reader.mapping, container, "resources", f"{path}.resources")
    requests = r.amounts(resources, "requests", f"{path}.resources.requests")
    # The API server defaults a missing request to the limit; do the same for objects that
    # did not go through admission (templates, files).
    for name, value in r.amounts(resources, "limits", f"{path}.resources.limits").items():
        requests.setdefault(name, value)
    if status is not None:
        requests = _resized(r, requests, status)
    return requests


def _resized(r: _Reader, spec: Amounts, status: Mapping[str, Any]) -> Amounts:
    """``determineContainerReqs``: max(spec, status.resources, allocatedResources), or without
    the spec when the resize is infeasible."""
    path, container_status, infeasible = status["path"], status["status"], status["infeasible"]
    actual = _guarded(r, {}, _Reader.mapping, container_status, "resources", f"{path}.resources")
    if container_status.get("resources") is None:
        return spec
    result: Amounts = {} if infeasible else dict(spec)
    _max(result, r.amounts(actual, "requests", f"{path}.resources.requests"))
    _max(result, r.amounts(container_status, "allocatedResources", f"{path}.allocatedResources"))
    return result


def _statuses(
    r: _Reader, status: dict[str, Any], key: str, infeasible: bool
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path, item in r.each(status, key, f"status.{key}"):
        name = item.get("name")
        if isinstance(name, str):
            found[name] = {"path": path, "status": item, "infeasible": infeasible}
    return found


def _resize_infeasible(status: dict[str, Any]) -> bool:
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else ():
        if isinstance(condition, dict) and condition.get("type") == "PodResizePending":
            return bool(condition.get("reason") == "Infeasible")
    return False


def _effective_requests(r: _Reader, spec: dict[str, Any], status: dict[str, Any]) -> Resources:
    """What kube-scheduler reserves for the pod: ``PodRequests`` of component-helpers
    (sidecars, init containers, pod-level resources, overhead), with the resources of a
    running pod's containers as its status reports them (``UseStatusResources``)."""
    bound = bool(spec.get("nodeName"))
    infeasible = _resize_infeasible(status) if bound else False
    running = _statuses(r, status, "containerStatuses", infeasible) if bound else {}
    running_init = _statuses(r, status, "initContainerStatuses", infeasible) if bound else {}
    total: Amounts = {}
    for path, container in r.each(spec, "containers", "spec.containers"):
        _add(total, _container_requests(r, container, path, running.get(container.get("name"))))
    sidecars: Amounts = {}
    init_peak: Amounts = {}
    for path, container in r.each(spec, "initContainers", "spec.initContainers"):
        sidecar = container.get("restartPolicy") == _RESTART_ALWAYS
        state = running_init.get(container.get("name")) if sidecar else None
        requests = _container_requests(r, container, path, state)
        if sidecar:
            # A sidecar keeps running next to the app containers and the later init containers.
            _add(total, requests)
            _add(sidecars, requests)
            peak = dict(sidecars)
        else:
            peak = dict(requests)
            _add(peak, sidecars)
        _max(init_peak, peak)
    _max(total, init_peak)
    pod_level = _guarded(r, {}, _Reader.mapping, spec, "resources", "spec.resources")
    if pod_level:
        declared = r.amounts(pod_level, "requests", "spec.resources.requests")
        total.update(
            (name, value)
            for name, value in declared.items()
            if name in _POD_LEVEL or name.startswith("hugepages-")
        )
    _add(total, r.amounts(spec, "overhead", "spec.overhead"))
    return Resources({name: _units(name, value) for name, value in total.items() if _counted(name)})


def _requirement(r: _Reader, expr: dict[str, Any], path: str) -> Requirement:
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
    r: _Reader, term: dict[str, Any], key: str, path: str, operators: frozenset[str] | None
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


def _label_selector(r: _Reader, selector: dict[str, Any], path: str) -> LabelSelector:
    labels = r.mapping(selector, "matchLabels", f"{path}.matchLabels")
    for k, v in labels.items():
        if not isinstance(v, str):
            raise r.error(f"{path}.matchLabels.{k}", f"expected a string, got {_type_name(v)}")
    expressions = _requirements(
        r, selector, "matchExpressions", f"{path}.matchExpressions", LABEL_SELECTOR_OPERATORS
    )
    return LabelSelector(match_labels=tuple(sorted(labels.items())), match_expressions=expressions)


# A node selector term that matches no node: what a term that cannot be read becomes.
_NO_NODE = NodeSelectorTerm()


def _node_selector_term(r: _Reader, term: dict[str, Any], path: str) -> NodeSelectorTerm:
    return NodeSelectorTerm(
        match_expressions=_requirements(
            r, term, "matchExpressions", f"{path}.matchExpressions", None
        ),
        match_fields=_requirements(r, term, "matchFields", f"{path}.matchFields", None),
    )


def _node_affinity(r: _Reader, affinity: dict[str, Any]) -> tuple[NodeSelectorTerm, ...]:
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
    r: _Reader, required: dict[str, Any], base: str
) -> tuple[NodeSelectorTerm, ...]:
    """The terms of a v1 NodeSelector (``nodeSelectorTerms``) found at ``base``."""
    terms = []
    for path, term in r.each(required, "nodeSelectorTerms", f"{base}.nodeSelectorTerms"):
        terms.append(_guarded(r, _NO_NODE, _node_selector_term, term, path))
    return tuple(terms) or (_NO_NODE,)


def _strings(r: _Reader, obj: dict[str, Any], key: str, path: str) -> list[str]:
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


def _pod_affinity(
    r: _Reader, affinity: dict[str, Any], kind: str, labels: Mapping[str, str]
) -> tuple[PodAffinityTerm, ...]:
    """The required terms of ``podAffinity`` or ``podAntiAffinity``; a term that cannot be
    read is noted (so a pending pod is not planned) and left out."""
    group = r.mapping(affinity, kind, f"spec.affinity.{kind}")
    base = f"spec.affinity.{kind}.requiredDuringSchedulingIgnoredDuringExecution"
    terms = []
    for path, term in r.each(group, "requiredDuringSchedulingIgnoredDuringExecution", base):
        read = _guarded(r, None, _pod_affinity_term, term, path, kind, labels)
        if read is not None:
            terms.append(read)
    return tuple(terms)


def _pod_affinity_term(
    r: _Reader, term: dict[str, Any], path: str, kind: str, labels: Mapping[str, str]
) -> PodAffinityTerm | None:
    """A term without a label selector selects no pod: an anti-affinity term then never
    refuses a node (and is dropped), an affinity term refuses every node."""
    if term.get("labelSelector") is None:
        if kind == "podAntiAffinity":
            return None
        selector = MATCH_NOTHING
    else:
        selector = _label_selector(
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
        namespace_selector = _label_selector(
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


def _spread_constraints(
    r: _Reader, spec: dict[str, Any], labels: Mapping[str, str]
) -> tuple[TopologySpreadConstraint, ...]:
    """The DoNotSchedule topology spread constraints (ScheduleAnyway only scores); one that
    cannot be read is noted (so a pending pod is not planned) and left out."""
    result = []
    for path, item in r.each(spec, "topologySpreadConstraints", "spec.topologySpreadConstraints"):
        read = _guarded(r, None, _spread_constraint, item, path, labels)
        if read is not None:
            result.append(read)
    return tuple(result)


def _spread_constraint(
    r: _Reader, item: dict[str, Any], path: str, labels: Mapping[str, str]
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
        selector = _label_selector(
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


def _toleration(r: _Reader, item: dict[str, Any], path: str) -> Toleration:
    # Every operator and effect is kept as written: ToleratesTaint compares the text, and an
    # operator it does not know tolerates nothing.
    effect = r.string(item, "effect", f"{path}.effect")
    return Toleration(
        key=sys.intern(r.string(item, "key", f"{path}.key")),
        operator=sys.intern(r.string(item, "operator", f"{path}.operator", "Equal")),
        value=r.string(item, "value", f"{path}.value"),
        effect=sys.intern(effect) if effect else None,
    )


def _tolerations(r: _Reader, spec: dict[str, Any]) -> tuple[Toleration, ...]:
    result = []
    for path, item in r.each(spec, "tolerations", "spec.tolerations"):
        toleration = _guarded(r, None, _toleration, item, path)
        if toleration is not None:
            result.append(toleration)
    return tuple(result)


def _taint_effect(text: str) -> str:
    try:
        return TaintEffect(text)
    except ValueError:
        return sys.intern(text)


def _host_ports(r: _Reader, spec: dict[str, Any]) -> tuple[HostPort, ...]:
    ports = []
    containers = list(r.each(spec, "containers", "spec.containers"))
    containers += [
        (path, c)
        for path, c in r.each(spec, "initContainers", "spec.initContainers")
        if c.get("restartPolicy") == _RESTART_ALWAYS
    ]
    for path, container in containers:
        for port_path, port in r.each(container, "ports", f"{path}.ports"):
            read = _guarded(r, None, _host_port, port, port_path)
            if read is not None:
                ports.append(read)
    return tuple(ports)


def _host_port(r: _Reader, port: dict[str, Any], path: str) -> HostPort | None:
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


def _controller_owner(r: _Reader, meta: dict[str, Any]) -> tuple[str | None, str | None]:
    for path, ref in r.objects(meta, "ownerReferences", "metadata.ownerReferences"):
        if r.boolean(ref, "controller", f"{path}.controller"):
            kind = r.string(ref, "kind", f"{path}.kind")
            return sys.intern(kind), r.string(ref, "name", f"{path}.name")
    return None, None


def _claims(r: _Reader, spec: dict[str, Any], pod_name: str) -> tuple[str, ...]:
    """The PersistentVolumeClaims the pod mounts; a generic ephemeral volume's claim is
    named ``<pod>-<volume>``, as its controller names it. An unreadable claim is noted."""
    claims = []
    for path, volume in r.each(spec, "volumes", "spec.volumes"):
        claim = _guarded(r, None, _volume_claim, volume, path, pod_name)
        if claim:
            claims.append(claim)
    return tuple(claims)


def _volume_claim(r: _Reader, volume: dict[str, Any], path: str, pod_name: str) -> str | None:
    if "persistentVolumeClaim" in volume:
        source = r.mapping(volume, "persistentVolumeClaim", f"{path}.persistentVolumeClaim")
        claim = r.string(source, "claimName", f"{path}.persistentVolumeClaim.claimName")
        if not claim:
            raise r.error(f"{path}.persistentVolumeClaim.claimName", "missing")
        return claim
    if volume.get("ephemeral") is not None:
        name = volume.get("name")
        if not isinstance(name, str) or not name:
            raise r.error(f"{path}.ephemeral", "the volume has no name to name its claim")
        return f"{pod_name}-{name}"
    return None


def _local_storage(r: _Reader, spec: dict[str, Any]) -> bool:
    for path, volume in r.objects(spec, "volumes", "spec.volumes"):
        if volume.get("hostPath") is not None:
            return True
        if "emptyDir" in volume:
            empty_dir = r.mapping(volume, "emptyDir", f"{path}.emptyDir")
            if r.string(empty_dir, "medium", f"{path}.emptyDir.medium") != "Memory":
                return True
    return False


def _unschedulable_since(r: _Reader, status: dict[str, Any]) -> tuple[bool, float | None]:
    for path, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") != "PodScheduled":
            continue
        if condition.get("status") == "False" and condition.get("reason") == "Unschedulable":
            since = r.timestamp(condition, "lastTransitionTime", f"{path}.lastTransitionTime")
            return True, since
        return False, None
    return False, None


def _annotation_flag(value: str | None) -> bool | None:
    # The same reading as cluster-autoscaler: only "true" and "false" mean something.
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _phase(r: _Reader, status: dict[str, Any]) -> PodPhase:
    text = r.string(status, "phase", "status.phase", "Pending")
    try:
        return PodPhase(text)
    except ValueError:
        raise r.error("status.phase", f"{text!r} is not a pod phase") from None


def _pod_from_parts(
    r: _Reader,
    namespace: str,
    name: str,
    meta: dict[str, Any],
    spec: dict[str, Any],
    status: dict[str, Any],
) -> Pod:
    labels = r.string_map(meta, "labels", "metadata.labels")
    annotations = r.string_map(meta, "annotations", "metadata.annotations")
    affinity = _guarded(r, {}, _Reader.mapping, spec, "affinity", "spec.affinity")
    # A pod whose owner cannot be read counts as a bare pod, which a drain never evicts.
    owner_kind, owner_name = _guarded(r, (None, None), _controller_owner, meta)
    unschedulable, since = _guarded(r, (False, None), _unschedulable_since, status)
    safe_to_evict = next(
        (
            flag
            for key in SAFE_TO_EVICT_ANNOTATIONS
            if (flag := _annotation_flag(annotations.get(key))) is not None
        ),
        None,
    )
    node_name = _guarded(r, "", _Reader.string, spec, "nodeName", "spec.nodeName")
    scheduler = _guarded(
        r, DEFAULT_SCHEDULER, _Reader.string, spec, "schedulerName", "spec.schedulerName"
    )
    created = _guarded(
        r, None, _Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
    )
    return Pod(
        namespace=sys.intern(namespace),
        name=name,
        uid=_guarded(r, "", _Reader.string, meta, "uid", "metadata.uid"),
        requests=_effective_requests(r, spec, status),
        labels=labels,
        node_name=sys.intern(node_name) if node_name else None,
        node_selector=r.string_map(spec, "nodeSelector", "spec.nodeSelector"),
        required_node_affinity=_guarded(r, (_NO_NODE,), _node_affinity, affinity),
        tolerations=_tolerations(r, spec),
        required_anti_affinity=_guarded(r, (), _pod_affinity, affinity, "podAntiAffinity", labels),
        required_affinity=_guarded(r, (), _pod_affinity, affinity, "podAffinity", labels),
        topology_spread=_guarded(r, (), _spread_constraints, spec, labels),
        host_ports=_host_ports(r, spec),
        owner_kind=owner_kind,
        owner_name=owner_name,
        scheduler_name=sys.intern(scheduler or DEFAULT_SCHEDULER),
        # An unknown phase counts as running: the pod keeps what it holds on its node.
        phase=_guarded(r, PodPhase.RUNNING, _phase, status),
        unschedulable=unschedulable,
        unschedulable_since=since,
        terminating=meta.get("deletionTimestamp") is not None,
        scheduling_gated=bool(
            _guarded(r, [None], _Reader.items, spec, "schedulingGates", "spec.schedulingGates")
        ),
        priority=_guarded(r, 0, _Reader.integer, spec, "priority", "spec.priority"),
        do_not_disrupt=annotations.get(DO_NOT_DISRUPT_ANNOTATION) == "true",
        safe_to_evict=safe_to_evict,
        local_storage=_guarded(r, True, _local_storage, spec),
        claims=_claims(r, spec, name),
        created=created or 0.0,
        unmodelled=r.unmodelled(),
    )


def _identity(r: _Reader, meta: dict[str, Any], namespaced: bool) -> tuple[str, str]:
    name = r.string(meta, "name", "metadata.name")
    if not name:
        raise r.error("metadata.name", "missing")
    namespace = r.string(meta, "namespace", "metadata.namespace")
    if namespaced and not namespace:
        raise r.error("metadata.namespace", "missing")
    return namespace, name


def _part(r: _Reader, obj: dict[str, Any], key: str) -> dict[str, Any]:
    return _guarded(r, {}, _Reader.mapping, obj, key, key)  # type: ignore[no-any-return]


def pod_from_dict(obj: Any) -> Pod:
    r = _Reader("Pod", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    return _pod_from_parts(r, namespace, name, meta, _part(r, obj, "spec"), _part(r, obj, "status"))


# Nodes ------------------------------------------------------------------------------------


def _taints(r: _Reader, spec: dict[str, Any], key: str, path: str) -> tuple[Taint, ...]:
    """Every taint, kept whatever its effect: an effect the model does not know is noted and
    blocks like NoSchedule; a taint with no key blocks every pod that does not tolerate all."""
    taints = []
    for item_path, item in r.each(spec, key, path):
        taint_key = _guarded(r, "", _Reader.string, item, "key", f"{item_path}.key")
        if not taint_key:
            r.note(r.error(f"{item_path}.key", "missing"))
        effect = _guarded(
            r, TaintEffect.NO_SCHEDULE, _Reader.string, item, "effect", f"{item_path}.effect"
        )
        if effect not in TaintEffect.__members__.values():
            r.note(
                r.error(
                    f"{item_path}.effect",
                    f"{effect!r} is not NoSchedule, PreferNoSchedule or NoExecute; "
                    "taken as NoSchedule",
                )
            )
        taints.append(
            Taint(
                key=sys.intern(taint_key),
                effect=_taint_effect(effect or TaintEffect.NO_SCHEDULE),
                value=_guarded(r, "", _Reader.string, item, "value", f"{item_path}.value"),
            )
        )
    return tuple(taints)


def _ready_since(r: _Reader, status: dict[str, Any]) -> float | None:
    """When a Ready node became Ready (its condition's lastTransitionTime); None otherwise."""
    for path, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return r.timestamp(condition, "lastTransitionTime", f"{path}.lastTransitionTime")
    return None


def _condition_true(r: _Reader, status: dict[str, Any], kind: str) -> bool:
    for _, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def node_from_dict(obj: Any) -> Node:
    r = _Reader("Node", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = _identity(r, meta, namespaced=False)
    spec = _part(r, obj, "spec")
    status = _part(r, obj, "status")
    labels = r.string_map(meta, "labels", "metadata.labels")
    labels.setdefault(HOSTNAME_LABEL, name)
    annotations = meta.get("annotations")
    created = _guarded(
        r, None, _Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
    )
    return Node(
        name=name,
        # A quantity that does not parse leaves that resource out: the node offers none of it.
        allocatable=r.resources(status, "allocatable", "status.allocatable"),
        labels=labels,
        taints=_taints(r, spec, "taints", "spec.taints"),
        ready=_guarded(r, False, _condition_true, status, "Ready"),
        ready_since=_guarded(r, None, _ready_since, status),
        # An unreadable cordon counts as cordoned.
        unschedulable=_guarded(
            r, True, _Reader.boolean, spec, "unschedulable", "spec.unschedulable"
        ),
        deleting=meta.get("deletionTimestamp") is not None,
        created=created or 0.0,
        unmodelled=r.unmodelled(),
        disruption=_disruption(annotations if isinstance(annotations, dict) else {}),
    )


def _disruption(annotations: Mapping[str, Any]) -> DisruptionRecord | None:
    """The disruption record on a Node; one that does not parse is left out (the taint still
    marks the node, and the disruption then counts from when it is seen)."""
    value = annotations.get(DISRUPTION_ANNOTATION)
    if not isinstance(value, str):
        return None
    try:
        return decode_disruption(value)
    except ValueError:
        return None


# Disruption budgets and DaemonSets --------------------------------------------------------

# What an unreadable PodDisruptionBudget selector guards: every pod of its namespace.
_MATCH_EVERYTHING = LabelSelector()


def _pdb_selector(r: _Reader, spec: dict[str, Any]) -> LabelSelector:
    if spec.get("selector") is None:
        return MATCH_NOTHING
    return _label_selector(r, r.mapping(spec, "selector", "spec.selector"), "spec.selector")


def pdb_from_dict(obj: Any) -> PodDisruptionBudget:
    """A budget; one that cannot be fully read guards every pod of its namespace and allows no
    disruption, so that a drain never goes past a budget it could not read."""
    r = _Reader("PodDisruptionBudget", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    spec = _part(r, obj, "spec")
    status = _part(r, obj, "status")
    selector = _guarded(r, _MATCH_EVERYTHING, _pdb_selector, spec)
    allowed = _guarded(
        r, 0, _Reader.integer, status, "disruptionsAllowed", "status.disruptionsAllowed"
    )
    unmodelled = r.unmodelled()
    return PodDisruptionBudget(
        namespace=namespace,
        name=name,
        selector=selector,
        disruptions_allowed=0 if unmodelled else max(0, allowed),
        unmodelled=unmodelled,
    )


def namespace_from_dict(obj: Any) -> Namespace:
    r = _Reader("Namespace", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = _identity(r, meta, namespaced=False)
    return Namespace(name=name, labels=r.string_map(meta, "labels", "metadata.labels"))


def daemonset_from_dict(obj: Any) -> DaemonSet:
    """A DaemonSet with its pod template as the Pod that would land on every matching node."""
    r = _Reader("DaemonSet", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    spec = _part(r, obj, "spec")
    template = _guarded(r, {}, _Reader.mapping, spec, "template", "spec.template")
    template_meta = _guarded(r, {}, _Reader.mapping, template, "metadata", "spec.template.metadata")
    template_spec = _guarded(r, {}, _Reader.mapping, template, "spec", "spec.template.spec")
    created = _guarded(
        r, None, _Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
    )
    r.prefix = "spec.template."
    pod = _pod_from_parts(r, namespace, name, template_meta, template_spec, {})
    tolerations = pod.tolerations + _DAEMONSET_TOLERATIONS
    if template_spec.get("hostNetwork") is True:
        tolerations += (_HOST_NETWORK_TOLERATION,)
    pod = replace(
        pod,
        owner_kind="DaemonSet",
        owner_name=name,
        tolerations=tolerations,
        created=created or 0.0,
    )
    return DaemonSet(namespace=namespace, name=name, template=pod)


# The readers the other converter modules share.
Reader = _Reader
label_selector = _label_selector
object_identity = _identity
