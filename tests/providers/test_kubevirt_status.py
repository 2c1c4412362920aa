from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.naming import POOL_ANNOTATION, REPLACES_ANNOTATION
from autoscaler.api.policy import DataVolumeSource, ImageSource, Shape
from autoscaler.api.vmbuilder import VMIdentity, build_vm
from autoscaler.core.model import NO_ZONE, VMPhase, Zone
from autoscaler.providers.kubevirt_status import parse_time, to_core_vm, to_core_vms

GIB = 2**30
T0 = 1_700_000_000.0
SHAPE = Shape(4000, 16 * GIB)
CONTAINER_DISK = ImageSource("img", container_disk="registry.example/worker:v1")
GOLDEN = ImageSource("golden", data_volume=DataVolumeSource("images", "golden", 20 * GIB))


def ts(seconds: float) -> str:
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def vm_object(image: ImageSource = CONTAINER_DISK, **status: Any) -> dict[str, Any]:
    identity = VMIdentity("vm-1", "ns", "team-a", "general", SHAPE, image)
    vm = build_vm(identity)
    vm["metadata"]["creationTimestamp"] = ts(0)
    if status:
        vm["status"] = status
    return vm


def vmi_object(phase: str, *transitions: tuple[str, float], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "vm-1", "creationTimestamp": ts(1)},
        "status": {
            "phase": phase,
            "phaseTransitionTimestamps": [
                {"phase": p, "phaseTransitionTimestamp": ts(at)} for p, at in transitions
            ],
            **status,
        },
    }


def dv_object(phase: str, created: float = 2) -> dict[str, Any]:
    return {
        "metadata": {"name": "vm-1-root", "creationTimestamp": ts(created)},
        "status": {"phase": phase, "progress": "42.0%"},
    }


def test_vm_without_vmi_is_pending_since_creation() -> None:
    vm = to_core_vm(vm_object(), None, {})
    assert vm.name == "vm-1"
    assert vm.pool == "general"
    assert vm.shape == SHAPE
    assert vm.image_hash == CONTAINER_DISK.digest
    assert (vm.phase, vm.created, vm.phase_since) == (VMPhase.PENDING, T0, T0)
    assert vm.host is None and vm.node_name is None


def test_exact_pool_name_comes_from_the_annotation() -> None:
    obj = vm_object()
    obj["metadata"]["annotations"][POOL_ANNOTATION] = "a-very-long.pool-name"
    assert to_core_vm(obj, None, {}).pool == "a-very-long.pool-name"


def test_a_replacement_carries_the_nodes_it_replaces() -> None:
    identity = VMIdentity("vm-1", "ns", "team-a", "general", SHAPE, CONTAINER_DISK, ("n2", "n1"))
    obj = build_vm(identity)
    assert obj["metadata"]["annotations"][REPLACES_ANNOTATION] == "n2,n1"
    assert to_core_vm(obj, None, {}).replaces == ("n1", "n2")
    assert REPLACES_ANNOTATION not in vm_object()["metadata"]["annotations"]
    assert to_core_vm(vm_object(), None, {}).replaces == ()


def test_a_replaces_record_keeps_only_node_names() -> None:
    obj = vm_object()
    obj["metadata"]["annotations"][REPLACES_ANNOTATION] = " n1 ,,Bad_Name,n1,n-2.x"
    assert to_core_vm(obj, None, {}).replaces == ("n-2.x", "n1")


def test_deleting_vm() -> None:
    obj = vm_object()
    obj["metadata"]["deletionTimestamp"] = ts(50)
    vm = to_core_vm(obj, vmi_object("Running", ("Running", 10)), {})
    assert (vm.phase, vm.phase_since) == (VMPhase.DELETING, T0 + 50)


def test_data_volume_not_created_yet_is_provisioning() -> None:
    vm = to_core_vm(vm_object(GOLDEN), None, {})
    assert vm.phase is VMPhase.PROVISIONING


def test_data_volume_being_cloned_is_provisioning_with_progress() -> None:
    vm = to_core_vm(vm_object(GOLDEN), None, {"vm-1-root": dv_object("CloneInProgress")})
    assert (vm.phase, vm.phase_since) == (VMPhase.PROVISIONING, T0 + 2)
    assert "CloneInProgress" in vm.reason and "42.0%" in vm.reason


def test_failed_data_volume_fails_the_vm() -> None:
    vm = to_core_vm(vm_object(GOLDEN), None, {"vm-1-root": dv_object("Failed")})
    assert vm.phase is VMPhase.FAILED


def test_data_volume_waiting_for_the_pod_defers_to_the_vmi() -> None:
    dvs = {"vm-1-root": dv_object("WaitForFirstConsumer")}
    vm = to_core_vm(vm_object(GOLDEN), vmi_object("Scheduling", ("Scheduling", 3)), dvs)
    assert vm.phase is VMPhase.PENDING


def test_ready_data_volume_and_running_vmi() -> None:
    vmi = vmi_object(
        "Running",
        ("Pending", 3),
        ("Scheduling", 4),
        ("Scheduled", 5),
        ("Running", 9),
        nodeName="metal-4",
    )
    vm = to_core_vm(vm_object(GOLDEN), vmi, {"vm-1-root": dv_object("Succeeded")})
    assert (vm.phase, vm.phase_since, vm.host) == (VMPhase.RUNNING, T0 + 9, "metal-4")


def test_pending_spans_the_vmi_pending_and_scheduling_phases() -> None:
    vm = to_core_vm(vm_object(), vmi_object("Scheduling", ("Pending", 3), ("Scheduling", 4)), {})
    assert (vm.phase, vm.phase_since) == (VMPhase.PENDING, T0 + 3)


def test_unschedulable_condition_is_the_reason() -> None:
    condition = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/3 nodes are available: 3 Insufficient memory.",
    }
    vmi = vmi_object("Scheduling", ("Scheduling", 3), conditions=[condition])
    vm = to_core_vm(vm_object(), vmi, {})
    assert vm.phase is VMPhase.PENDING
    assert vm.reason == "Unschedulable: 0/3 nodes are available: 3 Insufficient memory."


def test_scheduled_and_failed_vmis() -> None:
    scheduled = to_core_vm(vm_object(), vmi_object("Scheduled", ("Scheduled", 6)), {})
    assert (scheduled.phase, scheduled.phase_since) == (VMPhase.SCHEDULED, T0 + 6)
    failed = to_core_vm(vm_object(), vmi_object("Failed", ("Failed", 7)), {})
    assert failed.phase is VMPhase.FAILED
    stopped = to_core_vm(vm_object(), vmi_object("Succeeded", ("Succeeded", 7)), {})
    assert stopped.phase is VMPhase.FAILED


def test_crash_loop_fails_the_vm() -> None:
    vm = to_core_vm(vm_object(printableStatus="CrashLoopBackOff"), None, {})
    assert (vm.phase, vm.reason) == (VMPhase.FAILED, "CrashLoopBackOff")


def test_phase_since_falls_back_to_the_vmi_creation_without_transitions() -> None:
    vm = to_core_vm(vm_object(), vmi_object("Running"), {})
    assert vm.phase_since == T0 + 1


def test_unreadable_spec_is_reported_failed_not_dropped() -> None:
    obj = vm_object()
    obj["spec"]["template"]["spec"]["domain"] = {"memory": {"guest": "lots"}}
    (vm,) = to_core_vms([obj], [], [])
    assert vm.phase is VMPhase.FAILED
    assert "unreadable VM spec" in vm.reason


def test_lists_are_joined_by_name_and_sorted() -> None:
    first, second = vm_object(), vm_object()
    first["metadata"]["name"], second["metadata"]["name"] = "vm-b", "vm-a"
    vmi = vmi_object("Running", ("Running", 5), nodeName="metal-1")
    vmi["metadata"]["name"] = "vm-b"
    vms = to_core_vms([first, second], [vmi], [])
    assert [(vm.name, vm.phase) for vm in vms] == [
        ("vm-a", VMPhase.PENDING),
        ("vm-b", VMPhase.RUNNING),
    ]


def test_parse_time() -> None:
    assert parse_time(ts(5)) == T0 + 5
    assert parse_time("2023-11-14T22:13:25.5+00:00") == T0 + 5.5
    assert parse_time("yesterday") is None
    assert parse_time("2023-11-14T22:13:25") is None  # no zone: ambiguous
    assert parse_time(17) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["metadata", "spec", "status", "name", "labels", "template", "domain", "phase", "cpu"]
)
objects = st.dictionaries(field_names, json_values, max_size=4)


@settings(max_examples=80, deadline=None)
@given(vms=st.lists(objects, max_size=3), vmis=st.lists(objects, max_size=3), dvs=st.lists(objects))
def test_malformed_objects_never_crash_the_listing(
    vms: list[dict[str, Any]], vmis: list[dict[str, Any]], dvs: list[dict[str, Any]]
) -> None:
    for vm in to_core_vms(vms, vmis, dvs):
        assert isinstance(vm.phase, VMPhase)


CORRUPTIBLE = [
    ("metadata", "labels"),
    ("metadata", "creationTimestamp"),
    ("metadata", "deletionTimestamp"),
    ("spec", "template", "spec", "domain", "cpu"),
    ("spec", "template", "spec", "domain", "memory", "guest"),
    ("spec", "template", "spec", "domain", "resources", "requests"),
    ("spec", "dataVolumeTemplates"),
    ("status",),
]


@settings(max_examples=80, deadline=None)
@given(
    corruptions=st.lists(st.tuples(st.sampled_from(CORRUPTIBLE), json_values), max_size=3),
    vmi_status=json_values,
    dv_status=json_values,
)
def test_corrupted_real_objects_never_crash_the_listing(
    corruptions: list[tuple[tuple[str, ...], Any]], vmi_status: Any, dv_status: Any
) -> None:
    vm = vm_object(GOLDEN)
    for path, value in corruptions:
        target = vm
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    vmi = {"metadata": {"name": "vm-1"}, "status": vmi_status}
    dv = {"metadata": {"name": "vm-1-root"}, "status": dv_status}
    (result,) = to_core_vms([vm], [vmi], [dv])
    assert result.name == "vm-1"


def test_zone_comes_from_the_vm_node_selector() -> None:
    identity = VMIdentity("vm-1", "ns", "team-a", "general", SHAPE, CONTAINER_DISK)
    zone = {"topology.kubernetes.io/zone": "zone-b", "topology.kubernetes.io/region": "eu-west"}
    vm = build_vm(identity, host="metal-1", zone=zone)
    vm["metadata"]["creationTimestamp"] = ts(0)
    assert to_core_vm(vm, None, {}).zone == Zone("zone-b", "eu-west")
    assert to_core_vm(vm_object(), None, {}).zone == NO_ZONE
    vm["spec"]["template"]["spec"]["nodeSelector"] = {"topology.kubernetes.io/zone": 7}
    assert to_core_vm(vm, None, {}).zone == NO_ZONE  # unreadable: pinned to nothing known
