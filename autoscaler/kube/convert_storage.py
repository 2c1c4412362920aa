"""Compact core objects from raw PersistentVolumeClaims, PersistentVolumes and StorageClasses.

Only what kube-scheduler's volume filters read is kept. An object that cannot be read raises
:class:`~autoscaler.kube.convert_reader.ConversionError`; the informer then leaves it out, which the
core treats conservatively: a pod whose claim, volume or class is missing is blocked (no VM
is launched for it and its node is not emptied), never scheduled as if it had no volumes.
"""

from __future__ import annotations

import sys
from typing import Any, Final

from autoscaler.api.quantity import QuantityError, int_value
from autoscaler.core.model import (
    NodeSelectorTerm,
    PersistentVolume,
    PersistentVolumeClaim,
    Requirement,
    StorageClass,
    VolumeBindingMode,
)
from autoscaler.kube.convert import object_identity
from autoscaler.kube.convert_reader import Reader
from autoscaler.kube.convert_selectors import label_selector, node_selector_terms

BETA_CLASS_ANNOTATION: Final = "volume.beta.kubernetes.io/storage-class"
BIND_COMPLETED_ANNOTATION: Final = "pv.kubernetes.io/bind-completed"
STORAGE: Final = "storage"


def _storage_bytes(r: Reader, obj: dict[str, Any], key: str, path: str) -> int:
    amounts = r.mapping(obj, key, path)
    quantity = amounts.get(STORAGE)
    if quantity is None:
        return 0
    if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
        raise r.error(f"{path}.{STORAGE}", f"{quantity!r:.40} is not a quantity")
    try:
        return int_value(quantity)
    except QuantityError as exc:
        raise r.error(f"{path}.{STORAGE}", str(exc)) from None


def _access_modes(r: Reader, spec: dict[str, Any]) -> tuple[str, ...]:
    modes = r.items(spec, "accessModes", "spec.accessModes")
    for index, mode in enumerate(modes):
        if not isinstance(mode, str):
            raise r.error(f"spec.accessModes[{index}]", "expected a string")
    return tuple(sys.intern(mode) for mode in modes)


def _class_name(r: Reader, meta: dict[str, Any], spec: dict[str, Any]) -> str:
    """The class as kube-scheduler reads it: the beta annotation wins over the field."""
    annotations = r.string_map(meta, "annotations", "metadata.annotations")
    beta = annotations.get(BETA_CLASS_ANNOTATION)
    if beta is not None:
        return beta
    return r.string(spec, "storageClassName", "spec.storageClassName")


def pvc_from_dict(obj: Any) -> PersistentVolumeClaim:
    r = Reader("PersistentVolumeClaim", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    namespace, name = object_identity(r, meta, namespaced=True)
    spec = r.mapping(obj, "spec", "spec")
    annotations = r.string_map(meta, "annotations", "metadata.annotations")
    resources = r.mapping(spec, "resources", "spec.resources")
    selector = r.mapping(spec, "selector", "spec.selector")
    status = r.mapping(obj, "status", "status")
    return PersistentVolumeClaim(
        namespace=sys.intern(namespace),
        name=name,
        storage_class=_class_name(r, meta, spec),
        volume_name=r.string(spec, "volumeName", "spec.volumeName"),
        bind_completed=BIND_COMPLETED_ANNOTATION in annotations,
        access_modes=_access_modes(r, spec),
        requested=_storage_bytes(r, resources, "requests", "spec.resources.requests"),
        volume_mode=r.string(spec, "volumeMode", "spec.volumeMode", "Filesystem"),
        selector=label_selector(r, selector, "spec.selector") if selector else None,
        phase=r.string(status, "phase", "status.phase"),
        deleting=meta.get("deletionTimestamp") is not None,
    )


def pv_from_dict(obj: Any) -> PersistentVolume:
    r = Reader("PersistentVolume", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = object_identity(r, meta, namespaced=False)
    spec = r.mapping(obj, "spec", "spec")
    affinity = r.mapping(spec, "nodeAffinity", "spec.nodeAffinity")
    required = r.mapping(affinity, "required", "spec.nodeAffinity.required")
    claim_ref = r.mapping(spec, "claimRef", "spec.claimRef")
    claim = None
    if claim_ref:
        claim_namespace = r.string(claim_ref, "namespace", "spec.claimRef.namespace")
        claim = f"{claim_namespace}/{r.string(claim_ref, 'name', 'spec.claimRef.name')}"
    status = r.mapping(obj, "status", "status")
    return PersistentVolume(
        name=name,
        labels=r.string_map(meta, "labels", "metadata.labels"),
        node_affinity=(
            node_selector_terms(r, required, "spec.nodeAffinity.required") if required else ()
        ),
        storage_class=_class_name(r, meta, spec),
        capacity=_storage_bytes(r, spec, "capacity", "spec.capacity"),
        access_modes=_access_modes(r, spec),
        volume_mode=r.string(spec, "volumeMode", "spec.volumeMode", "Filesystem"),
        claim=claim,
        phase=r.string(status, "phase", "status.phase"),
        deleting=meta.get("deletionTimestamp") is not None,
    )


def _allowed_topologies(r: Reader, obj: dict[str, Any]) -> tuple[NodeSelectorTerm, ...]:
    terms = []
    for path, term in r.objects(obj, "allowedTopologies", "allowedTopologies"):
        requirements = []
        for item_path, expression in r.objects(
            term, "matchLabelExpressions", f"{path}.matchLabelExpressions"
        ):
            values = r.items(expression, "values", f"{item_path}.values")
            if not all(isinstance(value, str) for value in values):
                raise r.error(f"{item_path}.values", "expected strings")
            key = r.string(expression, "key", f"{item_path}.key")
            requirements.append(Requirement(sys.intern(key), "In", tuple(values)))
        terms.append(NodeSelectorTerm(tuple(requirements)))
    return tuple(terms)


def storage_class_from_dict(obj: Any) -> StorageClass:
    r = Reader("StorageClass", obj)
    meta = r.mapping(obj, "metadata", "metadata")
    _, name = object_identity(r, meta, namespaced=False)
    mode_text = r.string(obj, "volumeBindingMode", "volumeBindingMode")
    try:
        mode = VolumeBindingMode(mode_text) if mode_text else None
    except ValueError:
        modes = ", ".join(m.value for m in VolumeBindingMode)
        raise r.error("volumeBindingMode", f"{mode_text!r} is not one of {modes}") from None
    return StorageClass(
        name=name,
        provisioner=r.string(obj, "provisioner", "provisioner"),
        binding_mode=mode,
        allowed_topologies=_allowed_topologies(r, obj),
    )
