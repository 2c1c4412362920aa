"""Raw Kubernetes JSON (as the API server returns it) to the core's frozen, compact types.

Only what a decision needs is kept. Every converter checks the types of the fields it reads
and raises :class:`ConversionError` naming the object and the field when something is wrong;
the caller logs it and skips that one object.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord, decode_disruption
from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import EMPTY, Resources, to_units
from autoscaler.core.model import (
    DEFAULT_SCHEDULER,
    DO_NOT_DISRUPT_ANNOTATION,
    HOSTNAME_LABEL,
    SAFE_TO_EVICT_ANNOTATIONS,
    DaemonSet,
    HostPort,
    LabelSelector,
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
)

NODE_AFFINITY_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})
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

    __slots__ = ("kind", "name", "prefix")

    def __init__(self, kind: str, obj: Any) -> None:
        self.kind = kind
        self.name = object_name(obj)
        self.prefix = ""  # where the fields being read sit inside the object
        if not isinstance(obj, dict):
            raise ConversionError(kind, self.name, "<root>", f"expected an object, got {obj!r:.60}")

    def error(self, path: str, problem: str) -> ConversionError:
        return ConversionError(self.kind, self.name, self.prefix + path, problem)

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
        raw = self.mapping(obj, key, path)
        for k, v in raw.items():
            if not isinstance(v, str):
                raise self.error(f"{path}.{k}", f"expected a string, got {_type_name(v)}")
        return {sys.intern(k): sys.intern(v) for k, v in raw.items()} if raw else {}

    def resources(self, obj: Mapping[str, Any], key: str, path: str) -> Resources:
        raw = self.mapping(obj, key, path)
        if not raw:
            return EMPTY
        amounts = {}
        for name, quantity in raw.items():
            if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
                raise self.error(f"{path}.{name}", f"{quantity!r:.40} is not a quantity")
            try:
                amounts[name] = _units(name, quantity)
            except QuantityError as exc:
                raise self.error(f"{path}.{name}", str(exc)) from None
        return Resources(amounts)

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


# Pods repeat the same few quantities ("100m", "1Gi"); parsing each once saves most of the cost.
_units = functools.lru_cache(maxsize=8192)(to_units)


# Pods -------------------------------------------------------------------------------------


def _container_requests(r: _Reader, container: dict[str, Any], path: str) -> Resources:
    resources = r.mapping(container, "resources", f"{path}.resources")
    requests = r.resources(resources, "requests", f"{path}.resources.requests")
    limits = r.resources(resources, "limits", f"{path}.resources.limits")
    # The API server defaults a missing request to the limit; do the same for objects that
    # did not go through admission (templates, files).
    missing = {name: units for name, units in limits.items() if name not in requests}
    return requests + missing if missing else requests


def _effective_requests(r: _Reader, spec: dict[str, Any]) -> Resources:
    """What kube-scheduler reserves for the pod (``computePodResourceRequest``)."""
    total = EMPTY
    for path, container in r.objects(spec, "containers", "spec.containers"):
        total = total + _container_requests(r, container, path)
    sidecars = EMPTY
    init_peak = EMPTY
    for path, container in r.objects(spec, "initContainers", "spec.initContainers"):
        requests = _container_requests(r, container, path)
        if r.string(container, "restartPolicy", f"{path}.restartPolicy") == "Always":
            # A sidecar keeps running next to the app containers and the later init containers.
            total = total + requests
            sidecars = sidecars + requests
            peak = sidecars
        else:
            peak = requests + sidecars
        init_peak = init_peak.max(peak)
    effective = total.max(init_peak)
    overhead = r.resources(spec, "overhead", "spec.overhead")
    return effective + overhead if overhead else effective


def _requirements(
    r: _Reader, term: dict[str, Any], key: str, path: str, operators: frozenset[str]
) -> tuple[Requirement, ...]:
    result = []
    for item_path, expr in r.objects(term, key, path):
        operator = r.string(expr, "operator", f"{item_path}.operator")
        if operator not in operators:
            raise r.error(
                f"{item_path}.operator",
                f"{operator!r} is not one of {', '.join(sorted(operators))}",
            )
        values = r.items(expr, "values", f"{item_path}.values")
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise r.error(f"{item_path}.values[{index}]", "expected a string")
        result.append(
            Requirement(
                key=sys.intern(r.string(expr, "key", f"{item_path}.key")),
                operator=sys.intern(operator),
                values=tuple(values),
            )
        )
    return tuple(result)


def _label_selector(r: _Reader, selector: dict[str, Any], path: str) -> LabelSelector:
    labels = r.string_map(selector, "matchLabels", f"{path}.matchLabels")
    expressions = _requirements(
        r, selector, "matchExpressions", f"{path}.matchExpressions", LABEL_SELECTOR_OPERATORS
    )
    return LabelSelector(match_labels=tuple(sorted(labels.items())), match_expressions=expressions)


def _node_affinity(r: _Reader, affinity: dict[str, Any]) -> tuple[NodeSelectorTerm, ...]:
    base = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    node_affinity = r.mapping(affinity, "nodeAffinity", "spec.affinity.nodeAffinity")
    required = r.mapping(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", base)
    terms = []
    for path, term in r.objects(required, "nodeSelectorTerms", f"{base}.nodeSelectorTerms"):
        terms.append(
            NodeSelectorTerm(
                match_expressions=_requirements(
                    r, term, "matchExpressions", f"{path}.matchExpressions", NODE_AFFINITY_OPERATORS
                ),
                match_fields=_requirements(
                    r, term, "matchFields", f"{path}.matchFields", NODE_AFFINITY_OPERATORS
                ),
            )
        )
    return tuple(terms)


def _anti_affinity(r: _Reader, affinity: dict[str, Any]) -> tuple[PodAffinityTerm, ...]:
    anti = r.mapping(affinity, "podAntiAffinity", "spec.affinity.podAntiAffinity")
    base = "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    terms = []
    for path, term in r.objects(anti, "requiredDuringSchedulingIgnoredDuringExecution", base):
        if term.get("labelSelector") is None:
            continue  # a term without a selector matches no pod
        selector = _label_selector(
            r, r.mapping(term, "labelSelector", f"{path}.labelSelector"), f"{path}.labelSelector"
        )
        namespaces = r.items(term, "namespaces", f"{path}.namespaces")
        if not all(isinstance(ns, str) for ns in namespaces):
            raise r.error(f"{path}.namespaces", "expected a list of strings")
        topology_key = r.string(term, "topologyKey", f"{path}.topologyKey")
        if not topology_key:
            raise r.error(f"{path}.topologyKey", "must not be empty")
        terms.append(
            PodAffinityTerm(
                selector=selector,
                topology_key=sys.intern(topology_key),
                namespaces=tuple(namespaces),
            )
        )
    return tuple(terms)


def _tolerations(r: _Reader, spec: dict[str, Any]) -> tuple[Toleration, ...]:
    result = []
    for path, item in r.objects(spec, "tolerations", "spec.tolerations"):
        operator = r.string(item, "operator", f"{path}.operator", "Equal")
        if operator not in ("Equal", "Exists"):
            raise r.error(f"{path}.operator", f"{operator!r} is not Equal or Exists")
        effect_text = r.string(item, "effect", f"{path}.effect")
        result.append(
            Toleration(
                key=r.string(item, "key", f"{path}.key"),
                operator=operator,
                value=r.string(item, "value", f"{path}.value"),
                effect=_taint_effect(r, effect_text, f"{path}.effect") if effect_text else None,
            )
        )
    return tuple(result)


def _taint_effect(r: _Reader, text: str, path: str) -> TaintEffect:
    try:
        return TaintEffect(text)
    except ValueError:
        raise r.error(path, f"{text!r} is not NoSchedule, PreferNoSchedule or NoExecute") from None


def _host_ports(r: _Reader, spec: dict[str, Any]) -> tuple[HostPort, ...]:
    ports = []
    containers = list(r.objects(spec, "containers", "spec.containers"))
    containers += [
        (path, c)
        for path, c in r.objects(spec, "initContainers", "spec.initContainers")
        if c.get("restartPolicy") == "Always"
    ]
    for path, container in containers:
        for port_path, port in r.objects(container, "ports", f"{path}.ports"):
            host_port = r.integer(port, "hostPort", f"{port_path}.hostPort")
            if host_port <= 0:
                continue
            if host_port > 65535:
                raise r.error(f"{port_path}.hostPort", f"{host_port} is not a port number")
            ports.append(
                HostPort(
                    port=host_port,
                    protocol=r.string(port, "protocol", f"{port_path}.protocol", "TCP"),
                    host_ip=r.string(port, "hostIP", f"{port_path}.hostIP") or "0.0.0.0",
                )
            )
    return tuple(ports)


def _controller_owner(r: _Reader, meta: dict[str, Any]) -> tuple[str | None, str | None]:
    for path, ref in r.objects(meta, "ownerReferences", "metadata.ownerReferences"):
        if r.boolean(ref, "controller", f"{path}.controller"):
            kind = r.string(ref, "kind", f"{path}.kind")
            return sys.intern(kind), r.string(ref, "name", f"{path}.name")
    return None, None


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
    affinity = r.mapping(spec, "affinity", "spec.affinity")
    owner_kind, owner_name = _controller_owner(r, meta)
    phase_text = r.string(status, "phase", "status.phase", "Pending")
    try:
        phase = PodPhase(phase_text)
    except ValueError:
        raise r.error("status.phase", f"{phase_text!r} is not a pod phase") from None
    unschedulable, since = _unschedulable_since(r, status)
    safe_to_evict = next(
        (
            flag
            for key in SAFE_TO_EVICT_ANNOTATIONS
            if (flag := _annotation_flag(annotations.get(key))) is not None
        ),
        None,
    )
    node_name = r.string(spec, "nodeName", "spec.nodeName")
    return Pod(
        namespace=sys.intern(namespace),
        name=name,
        uid=r.string(meta, "uid", "metadata.uid"),
        requests=_effective_requests(r, spec),
        labels=labels,
        node_name=sys.intern(node_name) if node_name else None,
        node_selector=r.string_map(spec, "nodeSelector", "spec.nodeSelector"),
        required_node_affinity=_node_affinity(r, affinity),
        tolerations=_tolerations(r, spec),
        required_anti_affinity=_anti_affinity(r, affinity),
        host_ports=_host_ports(r, spec),
        owner_kind=owner_kind,
        owner_name=owner_name,
        scheduler_name=sys.intern(
            r.string(spec, "schedulerName", "spec.schedulerName", DEFAULT_SCHEDULER)
        ),
        phase=phase,
        unschedulable=unschedulable,
        unschedulable_since=since,
        terminating=meta.get("deletionTimestamp") is not None,
        scheduling_gated=bool(r.items(spec, "schedulingGates", "spec.schedulingGates")),
        priority=r.integer(spec, "priority", "spec.priority"),
        do_not_disrupt=annotations.get(DO_NOT_DISRUPT_ANNOTATION) == "true",
        safe_to_evict=safe_to_evict,
        local_storage=_local_storage(r, spec),
        created=r.timestamp(meta, "creationTimestamp", "metadata.creationTimestamp") or 0.0,
    )


def _identity(r: _Reader, meta: dict[str, Any], namespaced: bool) -> tuple[str, str]:
    name = r.string(meta, "name", "metadata.name")
    if not name:
        raise r.error("metadata.name", "missing")
    namespace = r.string(meta, "namespace", "metadata.namespace")
    if namespaced and not namespace:
        raise r.error("metadata.namespace", "missing")
    return namespace, name


def pod_from_dict(obj: Any) -> Pod:
    r = _Reader("Pod", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    return _pod_from_parts(
        r,
        namespace,
        name,
        meta,
        r.mapping(obj, "spec", "spec"),
        r.mapping(obj, "status", "status"),
    )


# Nodes ------------------------------------------------------------------------------------


def _taints(r: _Reader, spec: dict[str, Any], key: str, path: str) -> tuple[Taint, ...]:
    taints = []
    for item_path, item in r.objects(spec, key, path):
        taint_key = r.string(item, "key", f"{item_path}.key")
        if not taint_key:
            raise r.error(f"{item_path}.key", "missing")
        taints.append(
            Taint(
                key=sys.intern(taint_key),
                effect=_taint_effect(
                    r, r.string(item, "effect", f"{item_path}.effect"), f"{item_path}.effect"
                ),
                value=r.string(item, "value", f"{item_path}.value"),
            )
        )
    return tuple(taints)


def _condition_true(r: _Reader, status: dict[str, Any], kind: str) -> bool:
    for _, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def node_from_dict(obj: Any) -> Node:
    r = _Reader("Node", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = _identity(r, meta, namespaced=False)
    spec = r.mapping(obj, "spec", "spec")
    status = r.mapping(obj, "status", "status")
    labels = r.string_map(meta, "labels", "metadata.labels")
    labels.setdefault(HOSTNAME_LABEL, name)
    annotations = meta.get("annotations")
    return Node(
        name=name,
        allocatable=r.resources(status, "allocatable", "status.allocatable"),
        labels=labels,
        taints=_taints(r, spec, "taints", "spec.taints"),
        ready=_condition_true(r, status, "Ready"),
        unschedulable=r.boolean(spec, "unschedulable", "spec.unschedulable"),
        deleting=meta.get("deletionTimestamp") is not None,
        created=r.timestamp(meta, "creationTimestamp", "metadata.creationTimestamp") or 0.0,
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


def pdb_from_dict(obj: Any) -> PodDisruptionBudget:
    r = _Reader("PodDisruptionBudget", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    spec = r.mapping(obj, "spec", "spec")
    status = r.mapping(obj, "status", "status")
    if spec.get("selector") is None:
        selector = MATCH_NOTHING
    else:
        selector = _label_selector(r, r.mapping(spec, "selector", "spec.selector"), "spec.selector")
    allowed = r.integer(status, "disruptionsAllowed", "status.disruptionsAllowed")
    return PodDisruptionBudget(
        namespace=namespace,
        name=name,
        selector=selector,
        disruptions_allowed=max(0, allowed),
    )


def daemonset_from_dict(obj: Any) -> DaemonSet:
    """A DaemonSet with its pod template as the Pod that would land on every matching node."""
    r = _Reader("DaemonSet", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = _identity(r, meta, namespaced=True)
    spec = r.mapping(obj, "spec", "spec")
    template = r.mapping(spec, "template", "spec.template")
    template_meta = r.mapping(template, "metadata", "spec.template.metadata")
    template_spec = r.mapping(template, "spec", "spec.template.spec")
    created = r.timestamp(meta, "creationTimestamp", "metadata.creationTimestamp") or 0.0
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
        created=created,
    )
    return DaemonSet(namespace=namespace, name=name, template=pod)
