"""The kubevirt agent against two fake API servers over HTTP: management and tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents_helpers import (
    GOLDEN,
    GPU_TAINT,
    condition,
    host_node,
    until,
    worker_vm,
)
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.model import VMPhase
from autoscaler.core.overhead import host_footprint, node_allocatable
from autoscaler.providers.kubevirt_status import to_core_vm
from autoscaler.rawjson import call_json
from testbed.agents import (
    FailureInjection,
    KubevirtAgent,
    KubevirtAgentConfig,
    KubevirtTiming,
)
from testbed.apiserver import FakeApiServer

GI = 2**30
FAST = KubevirtTiming(
    data_volume=0.05,
    schedule=0.02,
    boot=0.05,
    register=0.02,
    ready=0.02,
    delete=0.02,
    unschedulable_retry=0.2,
)
KV = ("kubevirt.io", "v1", "vms")


class World:
    """The two clusters as the tests read and write them."""

    def __init__(self, management: ApiClient, tenant: ApiClient) -> None:
        self.core = CoreV1Api(management)
        self.custom = CustomObjectsApi(management)
        self.tenant = CoreV1Api(tenant)

    async def add_host(self, name: str, **kwargs: Any) -> None:
        await call_json(self.core.create_node, host_node(name, **kwargs))

    async def launch(self, name: str, **kwargs: Any) -> dict[str, Any]:
        vm, secret = worker_vm(name, **kwargs)
        await call_json(self.core.create_namespaced_secret, "vms", secret)
        await call_json(
            self.custom.create_namespaced_custom_object,
            *KV,
            "virtualmachines",
            vm,
            field_validation="Strict",
        )
        return vm

    async def get(self, plural: str, name: str, group: tuple[str, str] = KV[:2]) -> Any:
        try:
            return await call_json(
                self.custom.get_namespaced_custom_object, *group, "vms", plural, name
            )
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise

    async def vmi(self, name: str) -> Any:
        return await self.get("virtualmachineinstances", name)

    async def node(self, name: str) -> Any:
        try:
            return await call_json(self.tenant.read_node, name)
        except Exception as error:
            if getattr(error, "status", None) == 404:
                return None
            raise

    async def ready_node(self, name: str) -> Any:
        node = await self.node(name)
        ready = condition(node, "Ready")
        return node if ready and ready["status"] == "True" else None

    async def vmi_in(self, name: str, phase: str) -> Any:
        vmi = await self.vmi(name)
        return vmi if vmi and vmi.get("status", {}).get("phase") == phase else None

    async def launcher_pods(self) -> list[dict[str, Any]]:
        listed = await call_json(self.core.list_namespaced_pod, "vms")
        return list(listed["items"])


@pytest.fixture
async def world(management: ApiClient, tenant: ApiClient) -> World:
    return World(management, tenant)


@pytest.fixture
async def agent(management: ApiClient, tenant: ApiClient) -> AsyncIterator[KubevirtAgent]:
    async with KubevirtAgent(management, tenant, KubevirtAgentConfig(timing=FAST)) as running:
        yield running


async def test_vm_becomes_running_vmi_on_a_host_and_ready_node_with_pool_labels_and_taints(
    world: World, agent: KubevirtAgent
) -> None:
    await world.add_host("host-a")
    await world.add_host("host-b")
    await world.launch(
        "general-1", cpu=4, memory_gi=8, pool_labels={"workload": "batch"}, pool_taints=[GPU_TAINT]
    )

    node = await until(lambda: world.ready_node("general-1"))

    labels = node["metadata"]["labels"]
    assert labels["workload"] == "batch"
    assert labels["kvpool.io/pool"] == "general"
    assert labels["kubernetes.io/hostname"] == "general-1"
    assert node["spec"]["taints"] == [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    assert node["spec"]["providerID"] == "kubevirt://general-1"
    allocatable = Resources.parse(node["status"]["allocatable"])
    assert allocatable == node_allocatable(Shape(4000, 8 * GI))

    vmi = await world.vmi("general-1")
    assert vmi["status"]["phase"] == "Running"
    assert vmi["status"]["nodeName"] == "host-a"
    phases = [t["phase"] for t in vmi["status"]["phaseTransitionTimestamps"]]
    assert phases == ["Pending", "Scheduled", "Running"]
    vm = await world.get("virtualmachines", "general-1")
    assert vm["status"]["ready"] is True
    assert vm["status"]["printableStatus"] == "Running"
    core_vm = to_core_vm(vm, vmi, {})
    assert (core_vm.phase, core_vm.host) == (VMPhase.RUNNING, "host-a")

    (launcher,) = await world.launcher_pods()
    assert launcher["spec"]["nodeName"] == "host-a"
    requests = Resources.parse(launcher["spec"]["containers"][0]["resources"]["requests"])
    assert requests == host_footprint(Shape(4000, 8 * GI))
    assert launcher["status"]["phase"] == "Running"


async def test_data_volume_is_cloned_before_the_vm_runs(world: World, agent: KubevirtAgent) -> None:
    await world.add_host("host-a")
    vm = await world.launch("golden-1", image=GOLDEN)
    dv_name = vm["spec"]["dataVolumeTemplates"][0]["metadata"]["name"]

    await until(lambda: world.vmi_in("golden-1", "Running"))

    dv = await world.get("datavolumes", dv_name, ("cdi.kubevirt.io", "v1beta1"))
    assert dv["status"]["phase"] == "Succeeded"
    assert dv["metadata"]["ownerReferences"][0]["name"] == "golden-1"
    assert dv["spec"]["source"]["pvc"] == {"namespace": "images", "name": "golden"}


async def test_vm_no_host_fits_stays_pending_unschedulable_until_a_host_has_room(
    world: World, agent: KubevirtAgent
) -> None:
    await world.add_host("small", cpu="4", memory="64Gi")
    await world.launch("big-1", cpu=8, memory_gi=8)

    async def unschedulable() -> Any:
        found = condition(await world.vmi("big-1"), "PodScheduled")
        return found if found and found.get("reason") == "Unschedulable" else None

    found = await until(unschedulable)
    assert found["status"] == "False"
    assert found["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    vm = await world.get("virtualmachines", "big-1")
    assert vm["status"]["printableStatus"] == "ErrorUnschedulable"
    vmi = await world.vmi("big-1")
    assert vmi["status"]["phase"] == "Pending"
    assert to_core_vm(vm, vmi, {}).reason.startswith("Unschedulable")
    assert await world.node("big-1") is None

    await world.add_host("large", cpu="32", memory="64Gi")
    vmi = await until(lambda: world.vmi_in("big-1", "Running"))
    assert vmi["status"]["nodeName"] == "large"


async def test_host_capacity_taken_by_one_vm_is_not_given_to_another(
    world: World, agent: KubevirtAgent
) -> None:
    await world.add_host("only", cpu="16", memory="12Gi")
    await world.launch("first", cpu=2, memory_gi=8)
    await until(lambda: world.vmi_in("first", "Running"))
    await world.launch("second", cpu=2, memory_gi=8)

    async def unschedulable() -> Any:
        found = condition(await world.vmi("second"), "PodScheduled")
        return found if found and found.get("reason") == "Unschedulable" else None

    found = await until(unschedulable)
    assert "Insufficient memory" in found["message"]

    await call_json(world.custom.delete_namespaced_custom_object, *KV, "virtualmachines", "first")
    vmi = await until(lambda: world.vmi_in("second", "Running"))
    assert vmi["status"]["nodeName"] == "only"


async def test_deleting_the_vm_removes_vmi_data_volume_launcher_pod_and_node(
    world: World, agent: KubevirtAgent
) -> None:
    await world.add_host("host-a")
    vm = await world.launch("gone-1", image=GOLDEN)
    dv_name = vm["spec"]["dataVolumeTemplates"][0]["metadata"]["name"]
    await until(lambda: world.ready_node("gone-1"))

    await call_json(world.custom.delete_namespaced_custom_object, *KV, "virtualmachines", "gone-1")

    async def all_gone() -> bool:
        dv = await world.get("datavolumes", dv_name, ("cdi.kubevirt.io", "v1beta1"))
        leftovers = [await world.vmi("gone-1"), dv, await world.node("gone-1")]
        return all(item is None for item in leftovers) and not await world.launcher_pods()

    await until(all_gone)
    assert agent.ledger.used("host-a") == Resources()


async def test_injected_failures_stop_a_vm_before_running_or_before_its_node_joins(
    management: ApiClient, tenant: ApiClient, world: World
) -> None:
    failures = FailureInjection(never_running_if=lambda name: name == "stuck", never_registers=1.0)
    config = KubevirtAgentConfig(timing=FAST, failures=failures)
    await world.add_host("host-a")
    async with KubevirtAgent(management, tenant, config):
        await world.launch("stuck")
        await world.launch("silent")
        await until(lambda: world.vmi_in("silent", "Running"))
        stuck = await until(lambda: world.vmi_in("stuck", "Scheduled"))
        await until(lambda: world.vmi_in("silent", "Running"), within=0.3)

        assert stuck["status"]["nodeName"] == "host-a"
        assert (await world.vmi("stuck"))["status"]["phase"] == "Scheduled"
        assert await world.node("stuck") is None
        assert await world.node("silent") is None


async def test_many_vms_at_once_fill_the_hosts_without_overcommitting_any(
    world: World, agent: KubevirtAgent, tenant: ApiClient
) -> None:
    for host in ("h1", "h2", "h3"):
        await world.add_host(host, cpu="16", memory="40Gi")
    await asyncio.gather(*(world.launch(f"vm-{i:02d}", cpu=2, memory_gi=8) for i in range(15)))
    per_host = (40 * GI) // host_footprint(Shape(2000, 8 * GI)).memory
    fitting = 3 * per_host

    async def settled() -> tuple[list[str], list[str]] | None:
        listed = await call_json(
            world.custom.list_namespaced_custom_object, *KV, "virtualmachineinstances"
        )
        running = [
            v["metadata"]["name"] for v in listed["items"] if v["status"]["phase"] == "Running"
        ]
        waiting = [
            v["metadata"]["name"]
            for v in listed["items"]
            if (found := condition(v, "PodScheduled")) and found.get("reason") == "Unschedulable"
        ]
        return (running, waiting) if len(running) + len(waiting) == 15 else None

    running, waiting = await until(settled, within=10)
    assert (len(running), len(waiting)) == (fitting, 15 - fitting)

    async def joined() -> list[str] | None:
        nodes = await call_json(CoreV1Api(tenant).list_node)
        names = sorted(n["metadata"]["name"] for n in nodes["items"])
        return names if len(names) == fitting else None

    assert await until(joined) == sorted(running)
    held: dict[str, Resources] = {}
    for launcher in await world.launcher_pods():
        requests = Resources.parse(launcher["spec"]["containers"][0]["resources"]["requests"])
        host = launcher["spec"]["nodeName"]
        held[host] = held.get(host, Resources()) + requests
    assert sorted(held) == ["h1", "h2", "h3"]
    for host, requests in held.items():
        assert requests.memory <= 40 * GI, host
        assert requests.cpu <= 16_000, host


async def test_transient_api_errors_and_dropped_watches_only_delay_the_vm(
    management_server: FakeApiServer,
    tenant_server: FakeApiServer,
    world: World,
    agent: KubevirtAgent,
) -> None:
    await world.add_host("host-a")
    management_server.faults.fail(
        status=500, times=2, verb="patch", resource="virtualmachineinstances"
    )
    management_server.faults.throttle(retry_after=0.01, times=2, verb="create", resource="pods")
    management_server.faults.drop_watches(times=2, resource="virtualmachines")
    tenant_server.faults.fail(status=503, times=3, verb="create", resource="nodes")

    await world.launch("resilient")

    await until(lambda: world.ready_node("resilient"), within=10)
    codes = [entry.code for entry in tenant_server.audit if entry.resource == "nodes"]
    assert codes.count(503) == 3


async def test_a_restarted_agent_resumes_where_the_last_one_stopped(
    management: ApiClient, tenant: ApiClient, world: World
) -> None:
    await world.add_host("host-a")
    await world.add_host("host-b")
    silent = KubevirtAgentConfig(timing=FAST, failures=FailureInjection(never_registers=1.0))
    async with KubevirtAgent(management, tenant, silent):
        await world.launch("resumed")
        await until(lambda: world.vmi_in("resumed", "Running"))

    async with KubevirtAgent(management, tenant, KubevirtAgentConfig(timing=FAST)) as second:
        await until(lambda: world.ready_node("resumed"))
        vmi = await world.vmi("resumed")
        phases = [t["phase"] for t in vmi["status"]["phaseTransitionTimestamps"]]
        assert phases == ["Pending", "Scheduled", "Running"]
        assert second.ledger.used(vmi["status"]["nodeName"]) == host_footprint(Shape(2000, 4 * GI))
        assert len(await world.launcher_pods()) == 1
