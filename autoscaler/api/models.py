"""Pydantic models of the two custom resources, ``TenantCluster`` and ``NodePool``.

Field names are snake_case in Python and camelCase on the wire (``populate_by_name`` accepts
both). Specs forbid unknown fields so that a misspelt key is an error rather than a silently
ignored setting; metadata and status ignore fields they do not know, because the API server
and newer controllers add to them. The CRD schemas in ``manifests/crds`` are generated from
these models (:mod:`autoscaler.api.crdgen`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from autoscaler.api.naming import label_key_error, label_value_error
from autoscaler.api.policy import (
    DataVolumeSource,
    ImageSource,
    IntRange,
    Shape,
    ShapeBounds,
    TenantLimits,
)
from autoscaler.api.quantity import int_value, milli_value
from autoscaler.api.quantity_fields import NonNegativeQuantity, PositiveQuantity, Quantity
from autoscaler.api.validation_errors import describe_errors

GROUP: Final = "autoscaling.kvpool.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "autoscaling.kvpool.io/v1alpha1"

DNS_LABEL_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
IMAGE_NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
BOOTSTRAP_ENDPOINT_PATTERN: Final = r"^https://[^\s/]+(/\S*)?$"
CA_CERT_HASH_PATTERN: Final = r"^sha256:[0-9a-f]{64}$"
MAX_VM_CPUS: Final = 10_000  # far above any hypervisor's limit; bounds the shape search


# Names -----------------------------------------------------------------------------------
def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        key_error = label_key_error(key)
        if key_error:
            raise ValueError(key_error)
        value_error = label_value_error(value)
        if value_error:
            raise ValueError(f"label {key}: {value_error}")
    return labels


DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
LABEL_VALUE_PATTERN: Final = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$"
ZoneName = Annotated[str, Field(min_length=1, max_length=63, pattern=LABEL_VALUE_PATTERN)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]


# Base classes ----------------------------------------------------------------------------
class StrictModel(BaseModel):
    """A spec part: unknown fields are errors."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class LenientModel(BaseModel):
    """Metadata and status: unknown fields are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class ObjectMeta(LenientModel):
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None


class Condition(LenientModel):
    """The shape of ``metav1.Condition``."""

    type: str = Field(min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(max_length=1024)
    message: str = Field(max_length=32768)
    last_transition_time: datetime
    observed_generation: int | None = Field(default=None, ge=0)


_CONDITIONS_LIST: Final[dict[str, Any]] = {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
}


# TenantCluster ---------------------------------------------------------------------------
class SecretKeyRef(StrictModel):
    """A key of a Secret in the TenantCluster's namespace."""

    name: DnsSubdomain
    key: str = Field(default="value", min_length=1, max_length=253)


class PVCRef(StrictModel):
    namespace: DnsLabel
    name: DnsSubdomain


class DataVolumeImage(StrictModel):
    """A DataVolume cloned for each VM from a golden PersistentVolumeClaim."""

    source_pvc: PVCRef = Field(alias="sourcePVC")
    size: PositiveQuantity
    storage_class_name: str | None = None


class Image(StrictModel):
    """One allowed image: exactly one of ``containerDisk`` and ``dataVolume``."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["containerDisk"]}, {"required": ["dataVolume"]}]}
    )

    name: str = Field(min_length=1, max_length=63, pattern=IMAGE_NAME_PATTERN)
    container_disk: str | None = Field(default=None, min_length=1, max_length=1024)
    data_volume: DataVolumeImage | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Image:
        if (self.container_disk is None) == (self.data_volume is None):
            raise ValueError(
                f"image {self.name!r} needs exactly one of containerDisk or dataVolume"
            )
        return self

    def source(self) -> ImageSource:
        if self.data_volume is None:
            return ImageSource(name=self.name, container_disk=self.container_disk)
        dv = self.data_volume
        return ImageSource(
            name=self.name,
            data_volume=DataVolumeSource(
                source_namespace=dv.source_pvc.namespace,
                source_name=dv.source_pvc.name,
                size=int_value(dv.size),
                storage_class=dv.storage_class_name,
            ),
        )


def _whole_cores(text: str) -> str:
    if milli_value(text) % 1000:
        raise ValueError(f"{text!r} is not a whole number of cores")
    return text


WholeCores = Annotated[PositiveQuantity, AfterValidator(_whole_cores)]


class CPURange(StrictModel):
    """vCPUs per VM, in whole cores, on the grid ``min + k * step``."""

    min: WholeCores
    max: WholeCores
    step: WholeCores = "1"

    @model_validator(mode="after")
    def _ordered(self) -> CPURange:
        if milli_value(self.min) > milli_value(self.max):
            raise ValueError(f"cpu min {self.min} is greater than max {self.max}")
        if milli_value(self.max) > MAX_VM_CPUS * 1000:
            raise ValueError(f"cpu max {self.max} is more than {MAX_VM_CPUS} cores")
        return self

    def to_range(self) -> IntRange:
        """In millicores."""
        return IntRange(milli_value(self.min), milli_value(self.max), milli_value(self.step))


class MemoryRange(StrictModel):
    """Memory per VM on the grid ``min + k * step``."""

    min: PositiveQuantity
    max: PositiveQuantity
    step: PositiveQuantity = "1Gi"

    @model_validator(mode="after")
    def _ordered(self) -> MemoryRange:
        if int_value(self.min) > int_value(self.max):
            raise ValueError(f"memory min {self.min} is greater than max {self.max}")
        return self

    def to_range(self) -> IntRange:
        """In bytes."""
        return IntRange(int_value(self.min), int_value(self.max), int_value(self.step))


class MemoryPerCPU(StrictModel):
    """Memory per whole core that a VM shape must have."""

    min: PositiveQuantity
    max: PositiveQuantity

    @model_validator(mode="after")
    def _ordered(self) -> MemoryPerCPU:
        if int_value(self.min) > int_value(self.max):
            raise ValueError(f"memoryPerCPU min {self.min} is greater than max {self.max}")
        return self


class Shapes(StrictModel):
    cpu: CPURange
    memory: MemoryRange
    memory_per_cpu: MemoryPerCPU = Field(alias="memoryPerCPU")

    @model_validator(mode="after")
    def _some_shape(self) -> Shapes:
        bounds = self.bounds()
        if smallest_shape(bounds.cpu, bounds.memory, bounds) is None:
            raise ValueError(
                "no VM shape fits: no cpu count and memory size on these grids has between "
                f"{self.memory_per_cpu.min} and {self.memory_per_cpu.max} of memory per cpu"
            )
        return self

    def bounds(self) -> ShapeBounds:
        return ShapeBounds(
            cpu=self.cpu.to_range(),
            memory=self.memory.to_range(),
            memory_per_cpu_min=int_value(self.memory_per_cpu.min),
            memory_per_cpu_max=int_value(self.memory_per_cpu.max),
        )


def smallest_shape(cpu: IntRange, memory: IntRange, bounds: ShapeBounds) -> Shape | None:
    """The smallest shape on both grids whose memory per cpu the tenant allows, if any."""
    value = cpu.min
    while value <= cpu.max:
        low = max(memory.min, -(-bounds.memory_per_cpu_min * value // 1000))
        high = min(memory.max, bounds.memory_per_cpu_max * value // 1000)
        candidate = memory.round_up(low)
        if candidate is not None and candidate <= high:
            return Shape(cpu=value, memory=candidate)
        value += cpu.step
    return None


class Limits(StrictModel):
    """Tenant-wide quota over all its VMs; an absent field is unlimited."""

    vms: int | None = Field(default=None, ge=0)
    cpu: NonNegativeQuantity | None = None
    memory: NonNegativeQuantity | None = None

    def to_limits(self) -> TenantLimits:
        return TenantLimits(
            vms=self.vms,
            cpu=None if self.cpu is None else milli_value(self.cpu),
            memory=None if self.memory is None else int_value(self.memory),
        )


class Bootstrap(StrictModel):
    """How a new VM joins the tenant cluster."""

    kind: Literal["kubeadm"]
    api_server_endpoint: str = Field(max_length=2048, pattern=BOOTSTRAP_ENDPOINT_PATTERN)
    ca_cert_hashes: list[Annotated[str, Field(pattern=CA_CERT_HASH_PATTERN)]] | None = None


class TenantClusterSpec(StrictModel):
    kubeconfig_secret_ref: SecretKeyRef
    vm_namespace: DnsLabel
    images: list[Image] = Field(
        min_length=1,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    shapes: Shapes
    limits: Limits = Field(default_factory=Limits)
    bootstrap: Bootstrap
    weight: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="This tenant's share of scarce host capacity relative to other tenants.",
    )
    zones: list[ZoneName] | None = Field(
        default=None,
        min_length=1,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "The zones (topology.kubernetes.io/zone of the bare-metal hosts) this tenant's "
            "VMs may run in; absent: every host."
        ),
    )

    @model_validator(mode="after")
    def _unique_image_names(self) -> TenantClusterSpec:
        seen: set[str] = set()
        for image in self.images:
            if image.name in seen:
                raise ValueError(f"image name {image.name!r} appears more than once in images")
            seen.add(image.name)
        return self

    def shape_bounds(self) -> ShapeBounds:
        return self.shapes.bounds()

    def tenant_limits(self) -> TenantLimits:
        return self.limits.to_limits()

    def image_sources(self) -> dict[str, ImageSource]:
        return {image.name: image.source() for image in self.images}


class Usage(LenientModel):
    vms: int = 0
    cpu: Quantity = "0"
    memory: Quantity = "0"


class PoolSummary(LenientModel):
    name: str
    nodes: int = 0
    launching: int = 0
    draining: int = 0
    enabled: bool = True
    message: str | None = None


class TenantClusterStatus(LenientModel):
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=_CONDITIONS_LIST)
    connected: bool | None = None
    usage: Usage | None = None
    pools: list[PoolSummary] = Field(default_factory=list)
    observed_generation: int | None = None


class TenantCluster(StrictModel):
    """A tenant cluster registered on the management cluster (namespaced)."""

    api_version: Literal["autoscaling.kvpool.io/v1alpha1"] = API_VERSION
    kind: Literal["TenantCluster"] = "TenantCluster"
    metadata: ObjectMeta
    spec: TenantClusterSpec
    status: TenantClusterStatus | None = None

    def shape_bounds(self) -> ShapeBounds:
        return self.spec.shape_bounds()

    def tenant_limits(self) -> TenantLimits:
        return self.spec.tenant_limits()

    def image_sources(self) -> dict[str, ImageSource]:
        return self.spec.image_sources()


# NodePool --------------------------------------------------------------------------------
class TaintSpec(StrictModel):
    key: str = Field(min_length=1, max_length=317)
    value: str = Field(default="", max_length=63)
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]

    @model_validator(mode="after")
    def _valid_names(self) -> TaintSpec:
        error = label_key_error(self.key) or label_value_error(self.value)
        if error:
            raise ValueError(f"taint: {error}")
        return self


class NodePoolTemplate(StrictModel):
    """What every node of the pool carries from its first moment."""

    labels: Annotated[dict[str, str], AfterValidator(_check_labels)] = Field(default_factory=dict)
    taints: list[TaintSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_taints(self) -> NodePoolTemplate:
        seen: set[tuple[str, str]] = set()
        for taint in self.taints:
            if (taint.key, taint.effect) in seen:
                raise ValueError(f"taint {taint.key}:{taint.effect} appears more than once")
            seen.add((taint.key, taint.effect))
        return self


class NodePoolSpec(StrictModel):
    template: NodePoolTemplate = Field(default_factory=NodePoolTemplate)


class NodePoolStatus(LenientModel):
    conditions: list[Condition] = Field(default_factory=list, json_schema_extra=_CONDITIONS_LIST)
    nodes: int | None = None
    launching: int | None = None
    draining: int | None = None
    last_scale_up: datetime | None = None
    last_scale_down: datetime | None = None
    observed_generation: int | None = None


class NodePool(StrictModel):
    """A worker pool of a tenant cluster (cluster-scoped, in the tenant cluster)."""

    api_version: Literal["autoscaling.kvpool.io/v1alpha1"] = API_VERSION
    kind: Literal["NodePool"] = "NodePool"
    metadata: ObjectMeta
    spec: NodePoolSpec = Field(default_factory=NodePoolSpec)
    status: NodePoolStatus | None = None


# Loading untrusted objects ---------------------------------------------------------------
class InvalidObject(ValueError):
    """An object that does not match its model; ``errors`` has one line per problem."""

    def __init__(self, what: str, errors: list[str]) -> None:
        super().__init__(f"{what} is invalid: " + "; ".join(errors))
        self.what = what
        self.errors = errors


_PATTERN_MEANING: Final = {
    DNS_LABEL_PATTERN: "must be a DNS label (lowercase letters, digits and '-')",
    DNS_SUBDOMAIN_PATTERN: "must be a DNS subdomain (lowercase letters, digits, '-' and '.')",
    IMAGE_NAME_PATTERN: "must be lowercase letters, digits, '-' and '.'",
    BOOTSTRAP_ENDPOINT_PATTERN: "must be an https:// URL",
    CA_CERT_HASH_PATTERN: "must be sha256: followed by 64 lowercase hex digits",
    LABEL_VALUE_PATTERN: "must be a label value (letters, digits, '-', '_' and '.', "
    "starting and ending with a letter or digit)",
}


def _object_name(obj: object) -> str:
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) and name else "<unnamed>"


def load_tenant_cluster(obj: object) -> TenantCluster:
    """Validate a TenantCluster object; raise :class:`InvalidObject` listing every problem."""
    try:
        return TenantCluster.model_validate(obj)
    except ValidationError as exc:
        raise InvalidObject(
            f"TenantCluster {_object_name(obj)}",
            describe_errors(exc, pattern_meanings=_PATTERN_MEANING),
        ) from None


def load_nodepool(obj: object) -> NodePool:
    """Validate a NodePool object; raise :class:`InvalidObject` listing every problem."""
    try:
        return NodePool.model_validate(obj)
    except ValidationError as exc:
        raise InvalidObject(
            f"NodePool {_object_name(obj)}", describe_errors(exc, pattern_meanings=_PATTERN_MEANING)
        ) from None


def to_object(model: TenantCluster | NodePool) -> dict[str, Any]:
    """The object as the API server would store it (camelCase, no null fields)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
