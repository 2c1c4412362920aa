"""The resource types the server knows: built-in ones and those registered from CRDs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FieldGetter = Callable[[Mapping[str, Any]], str]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


def field_path(*keys: str) -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        node: Any = obj
        for key in keys:
            if not isinstance(node, Mapping):
                return ""
            node = node.get(key)
        if node is None:
            return ""
        if isinstance(node, bool):
            return "true" if node else "false"
        return str(node)

    return get


def _unschedulable(obj: Mapping[str, Any]) -> str:
    spec = obj.get("spec")
    return "true" if isinstance(spec, Mapping) and spec.get("unschedulable") is True else "false"


META_FIELDS: dict[str, FieldGetter] = {
    "metadata.name": field_path("metadata", "name"),
    "metadata.namespace": field_path("metadata", "namespace"),
}


@dataclass(frozen=True)
class ResourceType:
    """One served version of one resource."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: frozenset[str] = frozenset()
    field_getters: Mapping[str, FieldGetter] = field(default_factory=lambda: dict(META_FIELDS))
    custom: bool = False  # a CRD: strategic merge patch refused, schema checked
    schema: Mapping[str, Any] | None = None  # openAPIV3Schema of a custom resource
    tracks_generation: bool = False  # metadata.generation counts spec changes
    returns_deleted_object: bool = False  # DELETE answers with the object, not a Status
    allows_unconditional_update: bool = True  # PUT without metadata.resourceVersion
    create_keeps_status: bool = False  # with a status subresource, create drops status unless set

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``pods`` or ``virtualmachines.kubevirt.io``: how errors and storage name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_group(self) -> str:
        """``Pod`` or ``VirtualMachine.kubevirt.io``: how validation errors name it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(self.field_getters)

    def field_values(self, obj: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(getter(obj) for getter in self.field_getters.values())


def _fields(**extra: FieldGetter) -> dict[str, FieldGetter]:
    return {**META_FIELDS, **{name.replace("__", "."): getter for name, getter in extra.items()}}


POD_FIELDS = _fields(
    spec__nodeName=field_path("spec", "nodeName"),
    spec__restartPolicy=field_path("spec", "restartPolicy"),
    spec__schedulerName=field_path("spec", "schedulerName"),
    spec__serviceAccountName=field_path("spec", "serviceAccountName"),
    status__phase=field_path("status", "phase"),
    status__podIP=field_path("status", "podIP"),
    status__nominatedNodeName=field_path("status", "nominatedNodeName"),
)
EVENT_FIELDS = _fields(
    involvedObject__kind=field_path("involvedObject", "kind"),
    involvedObject__namespace=field_path("involvedObject", "namespace"),
    involvedObject__name=field_path("involvedObject", "name"),
    involvedObject__uid=field_path("involvedObject", "uid"),
    involvedObject__apiVersion=field_path("involvedObject", "apiVersion"),
    involvedObject__resourceVersion=field_path("involvedObject", "resourceVersion"),
    involvedObject__fieldPath=field_path("involvedObject", "fieldPath"),
    reason=field_path("reason"),
    reportingComponent=field_path("reportingComponent"),
    source=field_path("source", "component"),
    type=field_path("type"),
)
NEW_EVENT_FIELDS = _fields(
    regarding__kind=field_path("regarding", "kind"),
    regarding__namespace=field_path("regarding", "namespace"),
    regarding__name=field_path("regarding", "name"),
    regarding__uid=field_path("regarding", "uid"),
    reason=field_path("reason"),
    reportingController=field_path("reportingController"),
    type=field_path("type"),
)


BUILTIN_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        singular="pod",
        short_names=("po",),
        categories=("all",),
        subresources=frozenset({"status", "eviction", "binding"}),
        field_getters=POD_FIELDS,
        returns_deleted_object=True,
    ),
    ResourceType(
        "",
        "v1",
        "nodes",
        "Node",
        False,
        singular="node",
        short_names=("no",),
        subresources=frozenset({"status"}),
        field_getters=_fields(spec__unschedulable=_unschedulable),
        create_keeps_status=True,
    ),
    ResourceType(
        "",
        "v1",
        "namespaces",
        "Namespace",
        False,
        singular="namespace",
        short_names=("ns",),
        subresources=frozenset({"status"}),
        field_getters=_fields(status__phase=field_path("status", "phase")),
    ),
    ResourceType(
        "",
        "v1",
        "secrets",
        "Secret",
        True,
        singular="secret",
        field_getters=_fields(type=field_path("type")),
    ),
    ResourceType(
        "", "v1", "configmaps", "ConfigMap", True, singular="configmap", short_names=("cm",)
    ),
    ResourceType(
        "",
        "v1",
        "events",
        "Event",
        True,
        singular="event",
        short_names=("ev",),
        field_getters=EVENT_FIELDS,
    ),
    ResourceType(
        "events.k8s.io",
        "v1",
        "events",
        "Event",
        True,
        singular="event",
        short_names=("ev",),
        field_getters=NEW_EVENT_FIELDS,
    ),
    ResourceType(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        singular="poddisruptionbudget",
        short_names=("pdb",),
        subresources=frozenset({"status"}),
        tracks_generation=True,
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, singular="lease"),
    ResourceType(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        True,
        singular="daemonset",
        short_names=("ds",),
        categories=("all",),
        subresources=frozenset({"status"}),
        tracks_generation=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
        subresources=frozenset({"status"}),
        tracks_generation=True,
    ),
)

STORAGE_TYPES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        True,
        singular="persistentvolumeclaim",
        short_names=("pvc",),
        subresources=frozenset({"status"}),
        field_getters=_fields(spec__volumeName=field_path("spec", "volumeName")),
    ),
    ResourceType(
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        False,
        singular="persistentvolume",
        short_names=("pv",),
        subresources=frozenset({"status"}),
    ),
    ResourceType(
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        False,
        singular="storageclass",
        short_names=("sc",),
    ),
)
BUILTIN_TYPES += STORAGE_TYPES

PODS = BUILTIN_TYPES[0]
NODES = BUILTIN_TYPES[1]
NAMESPACES = BUILTIN_TYPES[2]
PDBS = BUILTIN_TYPES[7]
CRDS = BUILTIN_TYPES[10]
