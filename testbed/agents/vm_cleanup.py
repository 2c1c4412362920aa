"""Removing a VM as KubeVirt would: the objects made for it on the management cluster, and
finding the tenant Node it registered."""

from __future__ import annotations

from typing import Any

from autoscaler.api.naming import provider_id
from testbed.agents import kubevirt_objects as objects
from testbed.agents.calls import CDI, DATA_VOLUMES, KUBEVIRT, VMIS, Cluster, JsonDict


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def delete_management_objects(
    mgmt: Cluster, vm: JsonDict, namespace: str, vm_name: str
) -> None:
    """Delete what KubeVirt and CDI made for a VM: its VMI, DataVolumes and virt-launcher pods."""
    await mgmt.call(
        mgmt.custom.delete_namespaced_custom_object,
        *KUBEVIRT,
        namespace,
        VMIS,
        vm_name,
        what=f"delete VirtualMachineInstance {namespace}/{vm_name}",
        missing_ok=True,
        propagation_policy="Background",
    )
    for template in objects.data_volume_templates(vm):
        name = _dict(template.get("metadata")).get("name")
        if isinstance(name, str) and name:
            await mgmt.call(
                mgmt.custom.delete_namespaced_custom_object,
                *CDI,
                namespace,
                DATA_VOLUMES,
                name,
                what=f"delete DataVolume {namespace}/{name}",
                missing_ok=True,
            )
    launchers = await mgmt.require(
        mgmt.core.list_namespaced_pod,
        namespace,
        label_selector=f"{objects.VM_NAME_LABEL}={vm_name}",
        what=f"list virt-launcher pods of {namespace}/{vm_name}",
    )
    for pod in launchers.get("items") or []:
        name = _dict(_dict(pod).get("metadata")).get("name")
        if isinstance(name, str):
            await mgmt.call(
                mgmt.core.delete_namespaced_pod,
                name,
                namespace,
                what=f"delete pod {namespace}/{name}",
                missing_ok=True,
                grace_period_seconds=0,
            )


async def find_node(tenant: Cluster, vm_name: str) -> str | None:
    """The tenant Node of a VM whose registration this process did not see."""
    nodes = await tenant.require(tenant.core.list_node, what="list Nodes")
    wanted = provider_id(vm_name)
    for node in nodes.get("items") or []:
        node = _dict(node)
        if _dict(node.get("spec")).get("providerID") == wanted:
            name = _dict(node.get("metadata")).get("name")
            return name if isinstance(name, str) else None
    return None
