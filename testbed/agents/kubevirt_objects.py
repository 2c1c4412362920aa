"""The objects KubeVirt, CDI and a kubelet would write, as JSON-ready dicts (no I/O)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from autoscaler.api.naming import HOSTNAME_LABEL
from autoscaler.api.naming import provider_id as default_provider_id
from autoscaler.api.policy import Shape
from autoscaler.api.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resources
from autoscaler.core.overhead import node_allocatable
from testbed.agents.userdata import Registration

VM_NAME_LABEL: Final = "vm.kubevirt.io/name"
CREATED_BY_LABEL: Final = "kubevirt.io/created-by"
LAUNCHER_LABEL: Final = ("kubevirt.io", "virt-launcher")
LAUNCHER_IMAGE: Final = "quay.io/kubevirt/virt-launcher:sim"
NODE_ANNOTATION: Final = "sim.kvpool.io/registered-node"
"""Set on a VMI once its Node joined, so that a restarted agent does not register it again."""
_SUFFIX_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"

JsonDict = dict[str, Any]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def owner_reference(obj: Mapping[str, Any], api_version: str, kind: str) -> JsonDict:
    meta = _dict(obj.get("metadata"))
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def data_volume_templates(vm: Mapping[str, Any]) -> list[JsonDict]:
    templates = _dict(vm.get("spec")).get("dataVolumeTemplates")
    return [t for t in templates if isinstance(t, dict)] if isinstance(templates, list) else []


def data_volume(vm: Mapping[str, Any], template: Mapping[str, Any]) -> JsonDict:
    """The DataVolume KubeVirt creates for one of the VM's ``dataVolumeTemplates``."""
    meta = _dict(template.get("metadata"))
    return {
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {
            "name": meta.get("name", ""),
            "namespace": _dict(vm.get("metadata")).get("namespace", ""),
            "labels": dict(_dict(meta.get("labels"))),
            "ownerReferences": [owner_reference(vm, "kubevirt.io/v1", "VirtualMachine")],
        },
        "spec": copy.deepcopy(_dict(template.get("spec"))),
    }


def transition(phase: str, now: str) -> JsonDict:
    return {"phase": phase, "phaseTransitionTimestamp": now}


def virtual_machine_instance(vm: Mapping[str, Any], now: str) -> JsonDict:
    """The VMI of a VM, Pending: the VM's template with the VM as its owner."""
    meta = _dict(vm.get("metadata"))
    template = _dict(_dict(vm.get("spec")).get("template"))
    template_meta = _dict(template.get("metadata"))
    labels = {**_dict(template_meta.get("labels")), VM_NAME_LABEL: meta.get("name", "")}
    metadata: JsonDict = {
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "labels": labels,
        "ownerReferences": [owner_reference(vm, "kubevirt.io/v1", "VirtualMachine")],
    }
    if template_meta.get("annotations"):
        metadata["annotations"] = dict(_dict(template_meta.get("annotations")))
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": metadata,
        "spec": copy.deepcopy(_dict(template.get("spec"))),
        "status": {"phase": "Pending", "phaseTransitionTimestamps": [transition("Pending", now)]},
    }


def vmi_phase(vmi: Mapping[str, Any]) -> str:
    phase = _dict(vmi.get("status")).get("phase")
    return phase if isinstance(phase, str) else ""


def vmi_status(
    vmi: Mapping[str, Any],
    phase: str,
    now: str,
    *,
    node_name: str | None = None,
    conditions: Sequence[JsonDict] = (),
) -> JsonDict:
    """The VMI's status after moving to ``phase`` (transitions kept, conditions replaced)."""
    status = copy.deepcopy(_dict(vmi.get("status")))
    transitions = status.get("phaseTransitionTimestamps")
    transitions = list(transitions) if isinstance(transitions, list) else []
    if status.get("phase") != phase:
        transitions.append(transition(phase, now))
    status.update(phase=phase, phaseTransitionTimestamps=transitions, conditions=list(conditions))
    if node_name is not None:
        status["nodeName"] = node_name
    return status


def condition(kind: str, status: bool, now: str, reason: str = "", message: str = "") -> JsonDict:
    result: JsonDict = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": now,
    }
    if reason:
        result["reason"] = reason
    if message:
        result["message"] = message
    return result


def vm_status(printable: str, *, created: bool, ready: bool, now: str) -> JsonDict:
    return {
        "printableStatus": printable,
        "created": created,
        "ready": ready,
        "conditions": [condition("Ready", ready, now)],
    }


def launcher_pod_name(vm_name: str, vmi_uid: str) -> str:
    digest = hashlib.sha256(vmi_uid.encode()).digest()
    suffix = "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:5])
    return f"virt-launcher-{vm_name}-{suffix}"


def launcher_pod(vmi: Mapping[str, Any], host: str, requests: Resources) -> JsonDict:
    """The virt-launcher pod of a VMI, bound to its host, holding the VM's host footprint."""
    meta = _dict(vmi.get("metadata"))
    name = str(meta.get("name", ""))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": launcher_pod_name(name, str(meta.get("uid", name))),
            "namespace": meta.get("namespace", ""),
            "labels": {
                LAUNCHER_LABEL[0]: LAUNCHER_LABEL[1],
                VM_NAME_LABEL: name,
                CREATED_BY_LABEL: str(meta.get("uid", "")),
            },
            "ownerReferences": [owner_reference(vmi, "kubevirt.io/v1", "VirtualMachineInstance")],
        },
        "spec": {
            "nodeName": host,
            "containers": [
                {
                    "name": "compute",
                    "image": LAUNCHER_IMAGE,
                    "resources": {"requests": requests.to_kubernetes()},
                }
            ],
        },
    }


def running_pod_status(now: str, host_ip: str = "") -> JsonDict:
    """What a kubelet reports for a pod whose containers started and are ready."""
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
    ]
    status: JsonDict = {"phase": "Running", "startTime": now, "conditions": conditions}
    if host_ip:
        status["hostIP"] = host_ip
    return status


def tenant_node(
    registration: Registration, vm_name: str, shape: Shape, max_pods: int, now: str
) -> JsonDict:
    """The Node a VM's kubelet registers in the tenant, not Ready yet."""
    name = registration.node_name
    allocatable = node_allocatable(shape, max_pods)
    capacity = Resources(
        {
            CPU: shape.cpu,
            MEMORY: shape.memory,
            PODS: max_pods,
            EPHEMERAL_STORAGE: allocatable.get(EPHEMERAL_STORAGE, 0),
        }
    )
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        **registration.labels,
        HOSTNAME_LABEL: name,
    }
    spec: JsonDict = {"providerID": registration.provider_id or default_provider_id(vm_name)}
    if registration.taints:
        spec["taints"] = [dict(taint) for taint in registration.taints]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
        "status": {
            "capacity": capacity.to_kubernetes(),
            "allocatable": allocatable.to_kubernetes(),
            "conditions": [node_ready_condition(False, now)],
            "addresses": [{"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.31.0", "operatingSystem": "linux"},
        },
    }


def node_ready_condition(ready: bool, now: str) -> JsonDict:
    return {
        "type": "Ready",
        "status": "True" if ready else "False",
        "reason": "KubeletReady" if ready else "KubeletNotReady",
        "message": "kubelet is posting ready status" if ready else "kubelet is starting",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
