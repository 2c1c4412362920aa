"""Raw Kubernetes JSON (as the API server returns it) to the core's frozen, compact types.

Only what a decision needs is kept. Every converter checks the types of the fields it reads.
An object is never dropped because one of its fields cannot be read: the field falls back to
its most cautious reading and its path (with the problem) goes to the object's ``unmodelled``,
which the core acts on (a bound pod keeps its node, a pending pod is not planned for) and the
informer logs once per object version. Only an object without a name or namespace, which
cannot be kept at all, raises :class:`ConversionError`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord, decode_disruption
from autoscaler.core.model import (
    DEFAULT_SCHEDULER,
    DO_NOT_DISRUPT_ANNOTATION,
    HOSTNAME_LABEL,
    SAFE_TO_EVICT_ANNOTATIONS,
    DaemonSet,
    LabelSelector,
    Namespace,
    Node,
    Pod,
    PodDisruptionBudget,
    PodPhase,
    Taint,
    TaintEffect,
    Toleration,
)
from autoscaler.kube.convert_reader import (
    Reader,
    guarded,
)
from autoscaler.kube.convert_requests import effective_requests
from autoscaler.kube.convert_selectors import (
    MATCH_NOTHING,
    NO_NODE,
    label_selector,
    read_host_ports,
    read_node_affinity,
    read_pod_affinity,
    read_spread_constraints,
    read_tolerations,
    taint_effect,
)

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


def _controller_owner(r: Reader, meta: dict[str, Any]) -> tuple[str | None, str | None]:
    for path, ref in r.objects(meta, "ownerReferences", "metadata.ownerReferences"):
        if r.boolean(ref, "controller", f"{path}.controller"):
            kind = r.string(ref, "kind", f"{path}.kind")
            return sys.intern(kind), r.string(ref, "name", f"{path}.name")
    return None, None


def _claims(r: Reader, spec: dict[str, Any], pod_name: str) -> tuple[str, ...]:
    """The PersistentVolumeClaims the pod mounts; a generic ephemeral volume's claim is
    named ``<pod>-<volume>``, as its controller names it. An unreadable claim is noted."""
    claims = []
    for path, volume in r.each(spec, "volumes", "spec.volumes"):
        claim = guarded(r, None, _volume_claim, volume, path, pod_name)
        if claim:
            claims.append(claim)
    return tuple(claims)


def _volume_claim(r: Reader, volume: dict[str, Any], path: str, pod_name: str) -> str | None:
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


def _local_storage(r: Reader, spec: dict[str, Any]) -> bool:
    for path, volume in r.objects(spec, "volumes", "spec.volumes"):
        if volume.get("hostPath") is not None:
            return True
        if "emptyDir" in volume:
            empty_dir = r.mapping(volume, "emptyDir", f"{path}.emptyDir")
            if r.string(empty_dir, "medium", f"{path}.emptyDir.medium") != "Memory":
                return True
    return False


def _unschedulable_since(r: Reader, status: dict[str, Any]) -> tuple[bool, float | None]:
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


def _phase(r: Reader, status: dict[str, Any]) -> PodPhase:
    text = r.string(status, "phase", "status.phase", "Pending")
    try:
        return PodPhase(text)
    except ValueError:
        raise r.error("status.phase", f"{text!r} is not a pod phase") from None


def _pod_from_parts(
    r: Reader,
    namespace: str,
    name: str,
    meta: dict[str, Any],
    spec: dict[str, Any],
    status: dict[str, Any],
) -> Pod:
    labels = r.string_map(meta, "labels", "metadata.labels")
    annotations = r.string_map(meta, "annotations", "metadata.annotations")
    affinity = guarded(r, {}, Reader.mapping, spec, "affinity", "spec.affinity")
    # A pod whose owner cannot be read counts as a bare pod, which a drain never evicts.
    owner_kind, owner_name = guarded(r, (None, None), _controller_owner, meta)
    unschedulable, since = guarded(r, (False, None), _unschedulable_since, status)
    safe_to_evict = next(
        (
            flag
            for key in SAFE_TO_EVICT_ANNOTATIONS
            if (flag := _annotation_flag(annotations.get(key))) is not None
        ),
        None,
    )
    node_name = guarded(r, "", Reader.string, spec, "nodeName", "spec.nodeName")
    scheduler = guarded(
        r, DEFAULT_SCHEDULER, Reader.string, spec, "schedulerName", "spec.schedulerName"
    )
    created = guarded(
        r, None, Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
    )
    return Pod(
        namespace=sys.intern(namespace),
        name=name,
        uid=guarded(r, "", Reader.string, meta, "uid", "metadata.uid"),
        requests=effective_requests(r, spec, status),
        labels=labels,
        node_name=sys.intern(node_name) if node_name else None,
        node_selector=r.string_map(spec, "nodeSelector", "spec.nodeSelector"),
        required_node_affinity=guarded(r, (NO_NODE,), read_node_affinity, affinity),
        tolerations=read_tolerations(r, spec),
        required_anti_affinity=guarded(
            r, (), read_pod_affinity, affinity, "podAntiAffinity", labels
        ),
        required_affinity=guarded(r, (), read_pod_affinity, affinity, "podAffinity", labels),
        topology_spread=guarded(r, (), read_spread_constraints, spec, labels),
        host_ports=read_host_ports(r, spec),
        owner_kind=owner_kind,
        owner_name=owner_name,
        scheduler_name=sys.intern(scheduler or DEFAULT_SCHEDULER),
        # An unknown phase counts as running: the pod keeps what it holds on its node.
        phase=guarded(r, PodPhase.RUNNING, _phase, status),
        unschedulable=unschedulable,
        unschedulable_since=since,
        terminating=meta.get("deletionTimestamp") is not None,
        scheduling_gated=bool(
            guarded(r, [None], Reader.items, spec, "schedulingGates", "spec.schedulingGates")
        ),
        priority=guarded(r, 0, Reader.integer, spec, "priority", "spec.priority"),
        do_not_disrupt=annotations.get(DO_NOT_DISRUPT_ANNOTATION) == "true",
        safe_to_evict=safe_to_evict,
        local_storage=guarded(r, True, _local_storage, spec),
        claims=_claims(r, spec, name),
        created=created or 0.0,
        unmodelled=r.unmodelled(),
    )


def object_identity(r: Reader, meta: dict[str, Any], namespaced: bool) -> tuple[str, str]:
    name = r.string(meta, "name", "metadata.name")
    if not name:
        raise r.error("metadata.name", "missing")
    namespace = r.string(meta, "namespace", "metadata.namespace")
    if namespaced and not namespace:
        raise r.error("metadata.namespace", "missing")
    return namespace, name


def _part(r: Reader, obj: dict[str, Any], key: str) -> dict[str, Any]:
    return guarded(r, {}, Reader.mapping, obj, key, key)  # type: ignore[no-any-return]


def pod_from_dict(obj: Any) -> Pod:
    r = Reader("Pod", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = object_identity(r, meta, namespaced=True)
    return _pod_from_parts(r, namespace, name, meta, _part(r, obj, "spec"), _part(r, obj, "status"))


# Nodes ------------------------------------------------------------------------------------


def _taints(r: Reader, spec: dict[str, Any], key: str, path: str) -> tuple[Taint, ...]:
    """Every taint, kept whatever its effect: an effect the model does not know is noted and
    blocks like NoSchedule; a taint with no key blocks every pod that does not tolerate all."""
    taints = []
    for item_path, item in r.each(spec, key, path):
        taint_key = guarded(r, "", Reader.string, item, "key", f"{item_path}.key")
        if not taint_key:
            r.note(r.error(f"{item_path}.key", "missing"))
        effect = guarded(
            r, TaintEffect.NO_SCHEDULE, Reader.string, item, "effect", f"{item_path}.effect"
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
                effect=taint_effect(effect or TaintEffect.NO_SCHEDULE),
                value=guarded(r, "", Reader.string, item, "value", f"{item_path}.value"),
            )
        )
    return tuple(taints)


def _ready_since(r: Reader, status: dict[str, Any]) -> float | None:
    """When a Ready node became Ready (its condition's lastTransitionTime); None otherwise."""
    for path, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return r.timestamp(condition, "lastTransitionTime", f"{path}.lastTransitionTime")
    return None


def _condition_true(r: Reader, status: dict[str, Any], kind: str) -> bool:
    for _, condition in r.objects(status, "conditions", "status.conditions"):
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def node_from_dict(obj: Any) -> Node:
    r = Reader("Node", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = object_identity(r, meta, namespaced=False)
    spec = _part(r, obj, "spec")
    status = _part(r, obj, "status")
    labels = r.string_map(meta, "labels", "metadata.labels")
    labels.setdefault(HOSTNAME_LABEL, name)
    annotations = meta.get("annotations")
    created = guarded(
        r, None, Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
    )
    return Node(
        name=name,
        # A quantity that does not parse leaves that resource out: the node offers none of it.
        allocatable=r.resources(status, "allocatable", "status.allocatable"),
        labels=labels,
        taints=_taints(r, spec, "taints", "spec.taints"),
        ready=guarded(r, False, _condition_true, status, "Ready"),
        ready_since=guarded(r, None, _ready_since, status),
        # An unreadable cordon counts as cordoned.
        unschedulable=guarded(r, True, Reader.boolean, spec, "unschedulable", "spec.unschedulable"),
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


def _pdb_selector(r: Reader, spec: dict[str, Any]) -> LabelSelector:
    if spec.get("selector") is None:
        return MATCH_NOTHING
    return label_selector(r, r.mapping(spec, "selector", "spec.selector"), "spec.selector")


def pdb_from_dict(obj: Any) -> PodDisruptionBudget:
    """A budget; one that cannot be fully read guards every pod of its namespace and allows no
    disruption, so that a drain never goes past a budget it could not read."""
    r = Reader("PodDisruptionBudget", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = object_identity(r, meta, namespaced=True)
    spec = _part(r, obj, "spec")
    status = _part(r, obj, "status")
    selector = guarded(r, _MATCH_EVERYTHING, _pdb_selector, spec)
    allowed = guarded(
        r, 0, Reader.integer, status, "disruptionsAllowed", "status.disruptionsAllowed"
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
    r = Reader("Namespace", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = object_identity(r, meta, namespaced=False)
    return Namespace(name=name, labels=r.string_map(meta, "labels", "metadata.labels"))


def daemonset_from_dict(obj: Any) -> DaemonSet:
    """A DaemonSet with its pod template as the Pod that would land on every matching node."""
    r = Reader("DaemonSet", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = object_identity(r, meta, namespaced=True)
    spec = _part(r, obj, "spec")
    template = guarded(r, {}, Reader.mapping, spec, "template", "spec.template")
    template_meta = guarded(r, {}, Reader.mapping, template, "metadata", "spec.template.metadata")
    template_spec = guarded(r, {}, Reader.mapping, template, "spec", "spec.template.spec")
    created = guarded(
        r, None, Reader.timestamp, meta, "creationTimestamp", "metadata.creationTimestamp"
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
