"""Pydantic models of the subset of ``kubevirt.io/v1 VirtualMachine`` that the autoscaler sends.

Field names follow the KubeVirt API (camelCase on the wire). Every model forbids unknown
fields, so a misspelt field fails here, before the API server would prune it. Only the
fields the autoscaler sets are modelled; ``to_dict`` leaves out those that are None.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

RunStrategy = Literal["Always", "RerunOnFailure"]
DiskBus = Literal["virtio", "sata", "scsi"]


class KubeModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectMeta(KubeModel):
    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


# DataVolume template (cdi.kubevirt.io/v1beta1) ---------------------------------------------


class PVCSource(KubeModel):
    namespace: str
    name: str


class DataVolumeSource(KubeModel):
    pvc: PVCSource


class StorageResources(KubeModel):
    requests: dict[str, str]


class StorageSpec(KubeModel):
    resources: StorageResources
    storage_class_name: str | None = None


class DataVolumeSpec(KubeModel):
    source: DataVolumeSource
    storage: StorageSpec


class DataVolumeTemplate(KubeModel):
    api_version: Literal["cdi.kubevirt.io/v1beta1"] = "cdi.kubevirt.io/v1beta1"
    kind: Literal["DataVolume"] = "DataVolume"
    metadata: ObjectMeta
    spec: DataVolumeSpec


# Domain ------------------------------------------------------------------------------------


class CPU(KubeModel):
    cores: int = Field(ge=1)
    sockets: int = 1
    threads: int = 1


class Memory(KubeModel):
    guest: str


class ResourceRequirements(KubeModel):
    requests: dict[str, str]


class DiskTarget(KubeModel):
    bus: DiskBus = "virtio"


class Disk(KubeModel):
    name: str
    disk: DiskTarget = DiskTarget()
    boot_order: int | None = None


class Masquerade(KubeModel):
    pass


class Interface(KubeModel):
    name: str
    masquerade: Masquerade = Masquerade()


class Devices(KubeModel):
    disks: list[Disk]
    interfaces: list[Interface]


class Domain(KubeModel):
    cpu: CPU
    memory: Memory
    resources: ResourceRequirements
    devices: Devices


class PodNetwork(KubeModel):
    pass


class Network(KubeModel):
    name: str
    pod: PodNetwork = PodNetwork()


# Volumes -----------------------------------------------------------------------------------


class ContainerDiskSource(KubeModel):
    image: str


class DataVolumeRef(KubeModel):
    name: str


class SecretRef(KubeModel):
    name: str


class CloudInitNoCloud(KubeModel):
    # ``secretRef`` (the Secret's ``userdata`` key) keeps the bootstrap token out of the VM
    # object; KubeVirt has no ``userDataSecretRef`` field on NoCloud.
    secret_ref: SecretRef


class Volume(KubeModel):
    name: str
    container_disk: ContainerDiskSource | None = None
    data_volume: DataVolumeRef | None = None
    cloud_init_no_cloud: CloudInitNoCloud | None = None


# Scheduling --------------------------------------------------------------------------------


class NodeSelectorRequirement(KubeModel):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
    values: list[str] | None = None


class NodeSelectorTerm(KubeModel):
    match_expressions: list[NodeSelectorRequirement]


class PreferredSchedulingTerm(KubeModel):
    weight: int = Field(ge=1, le=100)
    preference: NodeSelectorTerm


class NodeAffinity(KubeModel):
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm]


class Affinity(KubeModel):
    node_affinity: NodeAffinity


# VirtualMachine ----------------------------------------------------------------------------


class VMISpec(KubeModel):
    domain: Domain
    networks: list[Network]
    volumes: list[Volume]
    eviction_strategy: Literal["None", "LiveMigrate", "LiveMigrateIfPossible", "External"] = "None"
    termination_grace_period_seconds: int = Field(ge=0)
    node_selector: dict[str, str] | None = None
    affinity: Affinity | None = None


class VMITemplate(KubeModel):
    metadata: ObjectMeta
    spec: VMISpec


class VirtualMachineSpec(KubeModel):
    run_strategy: RunStrategy = "Always"
    data_volume_templates: list[DataVolumeTemplate] | None = None
    template: VMITemplate


class VirtualMachine(KubeModel):
    api_version: Literal["kubevirt.io/v1"] = "kubevirt.io/v1"
    kind: Literal["VirtualMachine"] = "VirtualMachine"
    metadata: ObjectMeta
    spec: VirtualMachineSpec
