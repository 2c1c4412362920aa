"""Builds the VirtualMachine and user-data Secret for one worker VM of a tenant.

The VM carries no owner: the autoscaler finds its VMs by label, so a VM outlives a restart of
the controller. KubeVirt's own eviction handling is off (``evictionStrategy: None``) because
the autoscaler drains the tenant Node itself before it deletes a VM.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from autoscaler.api import kubevirt as kv
from autoscaler.api.naming import (
    HOSTNAME_LABEL,
    POOL_ANNOTATION,
    REPLACES_ANNOTATION,
    ZONE_LABELS,
    is_dns_label,
    is_dns_subdomain,
    is_label_value,
    object_labels,
    root_data_volume_name,
    user_data_secret_name,
)
from autoscaler.api.policy import ImageSource, Shape
from autoscaler.api.quantity import QuantityFormat, format_quantity
from autoscaler.api.resources import CPU, MEMORY, to_quantity

USER_DATA_KEY: Final = "userdata"
ROOT_VOLUME: Final = "root"
CLOUD_INIT_VOLUME: Final = "cloudinit"
POD_NETWORK: Final = "default"
HOST_AFFINITY_WEIGHT: Final = 100


@dataclass(frozen=True, slots=True)
class VMOptions:
    """How every VM is built, independent of the launch (platform-wide settings)."""

    run_strategy: kv.RunStrategy = "Always"
    termination_grace_period_seconds: int = 30
    # False: the planned host is a preference the KubeVirt scheduler may overrule when the host
    # filled up meanwhile; True: the VM waits for exactly that host.
    pin_to_host: bool = False
    root_disk_bus: kv.DiskBus = "virtio"


DEFAULT_OPTIONS: Final = VMOptions()


@dataclass(frozen=True, slots=True)
class VMIdentity:
    """Who a VM belongs to and what it is: the inputs of its names and labels."""

    name: str
    namespace: str
    tenant: str
    pool: str
    shape: Shape
    image: ImageSource
    replaces: tuple[str, ...] = ()  # the nodes a consolidation replacement is launched for

    def __post_init__(self) -> None:
        if not is_dns_label(self.name):
            raise ValueError(f"VM name {self.name!r} is not a DNS-1123 label")
        if not is_dns_label(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} is not a DNS-1123 label")
        if self.shape.cpu <= 0 or self.shape.memory <= 0:
            raise ValueError(f"VM {self.name}: shape {self.shape} must have cpu and memory")
        if (self.image.container_disk is None) == (self.image.data_volume is None):
            raise ValueError(
                f"image {self.image.name!r} must have exactly one of containerDisk or dataVolume"
            )
        if self.image.data_volume is not None and self.image.data_volume.size <= 0:
            raise ValueError(f"image {self.image.name!r}: dataVolume size must be positive")

    @property
    def labels(self) -> dict[str, str]:
        return object_labels(self.tenant, self.pool, self.image.digest, self.shape)


def whole_cores(shape: Shape) -> int:
    """vCPUs of a shape, in whole cores (a fractional request is rounded up)."""
    return max(1, -(-shape.cpu // 1000))


def build_vm(
    identity: VMIdentity,
    host: str | None = None,
    options: VMOptions = DEFAULT_OPTIONS,
    zone: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``kubevirt.io/v1 VirtualMachine`` for ``identity``, as a JSON-ready dict.

    ``host`` is the bare-metal host the plan packed the VM onto (``kubernetes.io/hostname``).
    ``zone`` holds the ``topology.kubernetes.io/zone`` and ``/region`` labels of the zone the
    plan put the VM in: the VMI's ``nodeSelector`` requires them, so the VM runs only there
    (the host itself stays a preference unless ``pin_to_host``).
    """
    labels = identity.labels
    root_volume, dv_templates = _root_volume(identity, labels)
    spec = kv.VMISpec(
        domain=_domain(identity.shape, options.root_disk_bus),
        networks=[kv.Network(name=POD_NETWORK)],
        volumes=[
            root_volume,
            kv.Volume(
                name=CLOUD_INIT_VOLUME,
                cloud_init_no_cloud=kv.CloudInitNoCloud(
                    secret_ref=kv.SecretRef(name=user_data_secret_name(identity.name))
                ),
            ),
        ],
        eviction_strategy="None",
        termination_grace_period_seconds=options.termination_grace_period_seconds,
        **_placement(host, options.pin_to_host, zone or {}),
    )
    vm = kv.VirtualMachine(
        metadata=kv.ObjectMeta(
            name=identity.name,
            namespace=identity.namespace,
            labels=labels,
            annotations=_annotations(identity),
        ),
        spec=kv.VirtualMachineSpec(
            run_strategy=options.run_strategy,
            data_volume_templates=dv_templates,
            template=kv.VMITemplate(metadata=kv.ObjectMeta(labels=labels), spec=spec),
        ),
    )
    return vm.to_dict()


def _annotations(identity: VMIdentity) -> dict[str, str]:
    annotations = {POOL_ANNOTATION: identity.pool}
    if identity.replaces:
        annotations[REPLACES_ANNOTATION] = ",".join(identity.replaces)
    return annotations


def build_user_data_secret(identity: VMIdentity, user_data: str) -> dict[str, Any]:
    """The v1 Secret the VM's ``cloudInitNoCloud.secretRef`` points at."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": user_data_secret_name(identity.name),
            "namespace": identity.namespace,
            "labels": identity.labels,
        },
        "type": "Opaque",
        "data": {USER_DATA_KEY: base64.b64encode(user_data.encode()).decode()},
    }


def _domain(shape: Shape, root_bus: kv.DiskBus) -> kv.Domain:
    memory = to_quantity(MEMORY, shape.memory)
    return kv.Domain(
        cpu=kv.CPU(cores=whole_cores(shape)),
        memory=kv.Memory(guest=memory),
        resources=kv.ResourceRequirements(
            requests={CPU: to_quantity(CPU, shape.cpu), MEMORY: memory}
        ),
        devices=kv.Devices(
            disks=[
                kv.Disk(name=ROOT_VOLUME, disk=kv.DiskTarget(bus=root_bus), boot_order=1),
                kv.Disk(name=CLOUD_INIT_VOLUME, disk=kv.DiskTarget(bus="virtio")),
            ],
            interfaces=[kv.Interface(name=POD_NETWORK)],
        ),
    )


def _root_volume(
    identity: VMIdentity, labels: Mapping[str, str]
) -> tuple[kv.Volume, list[kv.DataVolumeTemplate] | None]:
    image = identity.image
    if image.container_disk is not None:
        disk = kv.ContainerDiskSource(image=image.container_disk)
        return kv.Volume(name=ROOT_VOLUME, container_disk=disk), None
    assert image.data_volume is not None  # VMIdentity checked that exactly one is set
    source = image.data_volume
    dv_name = root_data_volume_name(identity.name)
    template = kv.DataVolumeTemplate(
        metadata=kv.ObjectMeta(name=dv_name, labels=dict(labels)),
        spec=kv.DataVolumeSpec(
            source=kv.DataVolumeSource(
                pvc=kv.PVCSource(namespace=source.source_namespace, name=source.source_name)
            ),
            storage=kv.StorageSpec(
                resources=kv.StorageResources(
                    requests={"storage": format_quantity(source.size, QuantityFormat.BINARY_SI)}
                ),
                storage_class_name=source.storage_class,
            ),
        ),
    )
    return kv.Volume(name=ROOT_VOLUME, data_volume=kv.DataVolumeRef(name=dv_name)), [template]


def _placement(host: str | None, pin: bool, zone: Mapping[str, str]) -> dict[str, Any]:
    for key, value in zone.items():
        if key not in ZONE_LABELS:
            raise ValueError(f"zone label {key!r} is not one of {', '.join(ZONE_LABELS)}")
        if not is_label_value(value) or not value:
            raise ValueError(f"zone label {key}: {value!r} is not a valid label value")
    placement: dict[str, Any] = {"node_selector": dict(zone)} if zone else {}
    if host is None:
        return placement
    if not is_dns_subdomain(host):
        raise ValueError(f"host {host!r} is not a valid node name")
    if pin:
        return {"node_selector": {**zone, HOSTNAME_LABEL: host}}
    term = kv.NodeSelectorTerm(
        match_expressions=[
            kv.NodeSelectorRequirement(key=HOSTNAME_LABEL, operator="In", values=[host])
        ]
    )
    return {
        **placement,
        "affinity": kv.Affinity(
            node_affinity=kv.NodeAffinity(
                preferred_during_scheduling_ignored_during_execution=[
                    kv.PreferredSchedulingTerm(weight=HOST_AFFINITY_WEIGHT, preference=term)
                ]
            )
        ),
    }
