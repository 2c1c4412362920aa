"""Placing VMs on bare-metal hosts: first fit, preferences, selectors and what is taken."""

from __future__ import annotations

import pytest
from agents_helpers import host_node, worker_vm

from autoscaler.api.policy import ImageSource, Shape
from autoscaler.api.resources import CPU, MEMORY, Resources
from autoscaler.api.vmbuilder import VMIdentity, VMOptions, build_vm
from autoscaler.core.overhead import host_footprint
from autoscaler.kube.convert import node_from_dict
from testbed.agents.hosts import NOT_READY, HostPodLedger, host_pod_from_dict, vm_demand

GI = 2**30


def ledger(*hosts: dict[str, object]) -> HostPodLedger:
    book = HostPodLedger()
    for host in hosts:
        book.set_host(node_from_dict(host))
    return book


def test_demand_is_the_shape_plus_launcher_overhead() -> None:
    vm, _ = worker_vm("vm-1", cpu=4, memory_gi=8)

    demand = vm_demand(vm)

    footprint = host_footprint(Shape(4000, 8 * GI))
    assert demand.requests == Resources({CPU: footprint.cpu, MEMORY: footprint.memory})
    assert demand.name == "vm-1"


def test_first_fit_by_name_then_full_hosts_are_skipped() -> None:
    book = ledger(host_node("b-host", memory="16Gi"), host_node("a-host", memory="16Gi"))
    demand = vm_demand(worker_vm("vm-1", cpu=2, memory_gi=12)[0])

    first = book.choose(demand)
    assert first.host == "a-host"
    book.set_pod("vms/launcher-1", "a-host", demand.requests)
    second = book.choose(demand)
    assert second.host == "b-host"
    book.set_pod("vms/launcher-2", "b-host", demand.requests)
    third = book.choose(demand)
    assert third.host is None
    assert third.message == "0/2 nodes are available: 2 Insufficient memory."


def test_a_pod_counted_twice_under_one_key_holds_capacity_once() -> None:
    book = ledger(host_node("h", cpu="8"))
    requests = Resources({CPU: 3000, MEMORY: GI})

    book.set_pod("vms/p", "h", requests)
    book.track("vms/p", host_pod_from_dict({"spec": {"nodeName": "h"}, "status": {}}))
    assert book.used("h") == Resources()
    book.set_pod("vms/p", "h", requests)
    book.set_pod("vms/p", "h", requests)

    assert book.used("h") == requests
    assert book.free("h").cpu == 5000
    book.remove_pod("vms/p")
    assert book.used("h").cpu == 0


def test_terminal_pods_hold_nothing() -> None:
    book = ledger(host_node("h"))
    done = {
        "spec": {"nodeName": "h", "containers": [{"resources": {"requests": {"cpu": "2"}}}]},
        "status": {"phase": "Succeeded"},
    }

    book.track("ns/done", host_pod_from_dict(done))

    assert book.used("h").cpu == 0


def test_preferred_host_is_tried_first_and_a_pinned_vm_goes_only_to_its_host() -> None:
    book = ledger(host_node("a"), host_node("b"), host_node("c"))
    identity = VMIdentity(
        "vm-1", "vms", "t", "p", Shape(2000, 4 * GI), ImageSource("i", container_disk="x")
    )

    preferred = vm_demand(build_vm(identity, "c"))
    assert preferred.preferred_hosts == ("c",)
    assert book.choose(preferred).host == "c"

    pinned = vm_demand(build_vm(identity, "b", VMOptions(pin_to_host=True)))
    book.set_host(node_from_dict(host_node("b", cpu="1")))
    placement = book.choose(pinned)
    assert placement.host is None
    assert placement.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match node selector."
    )


def test_not_ready_and_cordoned_hosts_are_skipped_with_their_reasons() -> None:
    sick = host_node("sick")
    sick["status"] = {**sick["status"], "conditions": [{"type": "Ready", "status": "False"}]}
    cordoned = host_node("cordoned")
    cordoned["spec"] = {"unschedulable": True}
    book = ledger(sick, cordoned)

    placement = book.choose(vm_demand(worker_vm("vm-1")[0]))

    assert placement.host is None
    assert NOT_READY in placement.message
    assert "1 node(s) were unschedulable" in placement.message


def test_a_vm_without_a_readable_size_is_an_error_naming_the_field() -> None:
    vm, _ = worker_vm("vm-1")
    domain = vm["spec"]["template"]["spec"]["domain"]
    del domain["resources"]
    del domain["cpu"]

    with pytest.raises(ValueError, match=r"cpu\.cores"):
        vm_demand(vm)
