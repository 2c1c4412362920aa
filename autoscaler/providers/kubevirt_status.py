"""Turns KubeVirt's VirtualMachine, VMI and DataVolume objects into the core's VirtualMachine.

Pure functions over the API server's JSON. The objects come from outside, so every field is
read defensively: a missing or malformed field falls back to a neutral value, and a VM whose
size cannot be read at all is reported as FAILED with the reason rather than dropped (a
dropped VM would be invisible to the autoscaler and leak).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from autoscaler.api.naming import (
    IMAGE_HASH_LABEL,
    POOL_ANNOTATION,
    POOL_LABEL,
    REGION_LABEL,
    REPLACES_ANNOTATION,
    ZONE_LABEL,
    replaced_nodes,
)
from autoscaler.api.policy import Shape
from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import CPU, MEMORY, to_units
from autoscaler.core.model import VirtualMachine, VMPhase, Zone

REASON_MAX: Final = 300

_VMI_PHASES: Final[Mapping[str, VMPhase]] = {
    "": VMPhase.PENDING,
    "Pending": VMPhase.PENDING,
    "Scheduling": VMPhase.PENDING,
    "Scheduled": VMPhase.SCHEDULED,
    "Running": VMPhase.RUNNING,
    "Succeeded": VMPhase.FAILED,  # the guest shut down: it is no longer a node
    "Failed": VMPhase.FAILED,
    # The host stopped reporting; the VM may well still run, so do not replace it for that.
    "Unknown": VMPhase.RUNNING,
}
# printableStatus values after which the VM will not come up without being replaced.
_FATAL_PRINTABLE: Final = frozenset({"CrashLoopBackOff", "DataVolumeError"})
# DataVolume phases in which the clone waits for the VM's pod to be scheduled first.
_DV_WAITS_FOR_POD: Final = frozenset({"WaitForFirstConsumer", "PendingPopulation"})


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_time(value: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _short(text: str) -> str:
    return text if len(text) <= REASON_MAX else text[: REASON_MAX - 3] + "..."


@dataclass(frozen=True, slots=True)
class _Status:
    phase: VMPhase
    since: float
    reason: str = ""


def shape_of(vm: Mapping[str, Any]) -> Shape:
    """The VM's shape from its domain; raises ValueError naming the field that is unusable."""
    domain = _dict(_dict(_dict(_dict(vm.get("spec")).get("template")).get("spec")).get("domain"))
    requests = _dict(_dict(domain.get("resources")).get("requests"))
    try:
        if CPU in requests:
            cpu = to_units(CPU, requests[CPU])
        else:
            cores = _dict(domain.get("cpu")).get("cores")
            if not isinstance(cores, int) or isinstance(cores, bool):
                raise ValueError("spec.template.spec.domain.cpu.cores is missing")
            cpu = cores * 1000
        guest = _dict(domain.get("memory")).get("guest", requests.get(MEMORY))
        if guest is None:
            raise ValueError("spec.template.spec.domain.memory.guest is missing")
        memory = to_units(MEMORY, guest)
    except QuantityError as exc:
        raise ValueError(f"domain resources: {exc}") from exc
    if cpu <= 0 or memory <= 0:
        raise ValueError(f"domain asks for cpu={cpu}m memory={memory}")
    return Shape(cpu, memory)


def _phase_since(vmi_status: Mapping[str, Any], target: VMPhase, fallback: float) -> float:
    """When the VMI entered the run of phases that all map to ``target``."""
    transitions: list[tuple[float, str]] = []
    for entry in _list(vmi_status.get("phaseTransitionTimestamps")):
        entry = _dict(entry)
        at = parse_time(entry.get("phaseTransitionTimestamp"))
        if at is not None:
            transitions.append((at, _str(entry.get("phase"))))
    since: float | None = None
    for at, phase in sorted(transitions):
        if _VMI_PHASES.get(phase) is not target:
            since = None
        elif since is None:
            since = at
    return since if since is not None else fallback


def _unschedulable(vmi_status: Mapping[str, Any]) -> str | None:
    for condition in _list(vmi_status.get("conditions")):
        condition = _dict(condition)
        if (
            condition.get("type") == "PodScheduled"
            and condition.get("status") == "False"
            and condition.get("reason") == "Unschedulable"
        ):
            return _short(f"Unschedulable: {_str(condition.get('message'))}".rstrip(": "))
    return None


def _data_volume_status(
    vm: Mapping[str, Any], data_volumes: Mapping[str, Mapping[str, Any]], created: float
) -> _Status | None:
    """PROVISIONING or FAILED while a root DataVolume is not ready, else None."""
    for template in _list(_dict(vm.get("spec")).get("dataVolumeTemplates")):
        name = _str(_dict(_dict(template).get("metadata")).get("name"))
        if not name:
            continue
        dv = data_volumes.get(name)
        if dv is None:
            return _Status(VMPhase.PROVISIONING, created, f"DataVolume {name} not created yet")
        meta, status = _dict(dv.get("metadata")), _dict(dv.get("status"))
        phase = _str(status.get("phase"))
        since = parse_time(meta.get("creationTimestamp")) or created
        if phase == "Failed":
            return _Status(VMPhase.FAILED, since, f"DataVolume {name} failed")
        if phase != "Succeeded" and phase not in _DV_WAITS_FOR_POD:
            progress = _str(status.get("progress"))
            detail = f" ({progress})" if progress and progress != "N/A" else ""
            return _Status(
                VMPhase.PROVISIONING, since, f"DataVolume {name} is {phase or 'new'}{detail}"
            )
    return None


def _status(
    vm: Mapping[str, Any],
    vmi: Mapping[str, Any] | None,
    data_volumes: Mapping[str, Mapping[str, Any]],
    created: float,
) -> _Status:
    meta = _dict(vm.get("metadata"))
    if meta.get("deletionTimestamp"):
        return _Status(VMPhase.DELETING, parse_time(meta.get("deletionTimestamp")) or created)
    printable = _str(_dict(vm.get("status")).get("printableStatus"))
    if printable in _FATAL_PRINTABLE:
        return _Status(VMPhase.FAILED, created, printable)
    provisioning = _data_volume_status(vm, data_volumes, created)
    if provisioning is not None:
        return provisioning
    if vmi is None:
        return _Status(VMPhase.PENDING, created, printable if printable.startswith("Err") else "")
    vmi_status = _dict(vmi.get("status"))
    vmi_phase = _str(vmi_status.get("phase"))
    phase = _VMI_PHASES.get(vmi_phase, VMPhase.PENDING)
    vmi_created = parse_time(_dict(vmi.get("metadata")).get("creationTimestamp")) or created
    since = _phase_since(vmi_status, phase, vmi_created)
    if phase is VMPhase.PENDING:
        reason = _unschedulable(vmi_status) or (
            "Unschedulable" if printable == "ErrorUnschedulable" else ""
        )
        return _Status(phase, since, reason)
    if vmi_phase == "Succeeded":
        return _Status(phase, since, "the guest shut down")
    if vmi_phase == "Unknown":
        return _Status(phase, since, "VMI phase Unknown: the host stopped reporting")
    if vmi_phase == "Failed":
        return _Status(phase, since, _short(_str(vmi_status.get("reason")) or "VMI failed"))
    return _Status(phase, since)


def pinned_zone(vm: Mapping[str, Any]) -> Zone:
    """The zone the VM's ``spec.template.spec.nodeSelector`` pins it to (labels it lacks: "")."""
    spec = _dict(_dict(_dict(vm.get("spec")).get("template")).get("spec"))
    selector = _dict(spec.get("nodeSelector"))
    return Zone(_str(selector.get(ZONE_LABEL)), _str(selector.get(REGION_LABEL)))


def to_core_vm(
    vm: Mapping[str, Any],
    vmi: Mapping[str, Any] | None,
    data_volumes: Mapping[str, Mapping[str, Any]],
) -> VirtualMachine:
    """The core's view of one VirtualMachine, with its VMI (if any) and DataVolumes by name."""
    meta = _dict(vm.get("metadata"))
    labels = _dict(meta.get("labels"))
    annotations = _dict(meta.get("annotations"))
    created = parse_time(meta.get("creationTimestamp")) or 0.0
    status = _status(vm, vmi, data_volumes, created)
    try:
        shape = shape_of(vm)
    except ValueError as exc:
        shape = Shape(0, 0)
        if status.phase is not VMPhase.DELETING:
            status = _Status(VMPhase.FAILED, created, _short(f"unreadable VM spec: {exc}"))
    host = _str(_dict(vmi.get("status")).get("nodeName")) if vmi is not None else ""
    return VirtualMachine(
        name=_str(meta.get("name")),
        pool=_str(annotations.get(POOL_ANNOTATION)) or _str(labels.get(POOL_LABEL)),
        shape=shape,
        image_hash=_str(labels.get(IMAGE_HASH_LABEL)),
        created=created,
        phase=status.phase,
        phase_since=status.since,
        host=host or None,
        node_name=None,
        reason=status.reason,
        zone=pinned_zone(vm),
        replaces=replaced_nodes(_str(annotations.get(REPLACES_ANNOTATION))),
    )


def to_core_vms(
    vms: Iterable[Mapping[str, Any]],
    vmis: Iterable[Mapping[str, Any]],
    data_volumes: Iterable[Mapping[str, Any]],
) -> list[VirtualMachine]:
    """Joins the three lists by name (a VMI has its VM's name), sorted by VM name."""
    vmi_by_name = {_name(v): v for v in vmis if isinstance(v, Mapping)}
    dv_by_name = {_name(d): d for d in data_volumes if isinstance(d, Mapping)}
    result = [
        to_core_vm(vm, vmi_by_name.get(_name(vm)), dv_by_name)
        for vm in vms
        if isinstance(vm, Mapping) and _name(vm)
    ]
    return sorted(result, key=lambda v: v.name)


def _name(obj: Mapping[str, Any]) -> str:
    return _str(_dict(obj.get("metadata")).get("name"))
