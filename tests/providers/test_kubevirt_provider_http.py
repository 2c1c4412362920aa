"""KubeVirtProvider over real HTTP against the fake API server with KubeVirt's and CDI's CRDs."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import load_kube_config_from_dict
from provider_contract import CONTRACT, GIB, request

from autoscaler.api.naming import user_data_secret_name
from autoscaler.api.policy import DataVolumeSource, ImageSource
from autoscaler.core.model import VMPhase
from autoscaler.providers.errors import NotReady, ProviderError
from autoscaler.providers.kubevirt import KubeVirtProvider
from autoscaler.providers.protocol import LaunchRequest, VMProvider
from testbed.apiserver import FakeApiServer, load_crds
from testbed.apiserver.crds import KUBEVIRT_CRDS

pytestmark = pytest.mark.slow

CRDS = KUBEVIRT_CRDS
CRD_FILES = (
    "kubevirt-virtualmachine-crd.yaml",
    "kubevirt-virtualmachineinstance-crd.yaml",
    "cdi-datavolume-crd.yaml",
)
NAMESPACE = "team-a-vms"


@dataclass
class World:
    server: FakeApiServer
    client: ApiClient
    provider: KubeVirtProvider
    core: CoreV1Api
    custom: CustomObjectsApi


@cache
def crds() -> list[dict[str, Any]]:
    return [crd for name in CRD_FILES for crd in load_crds(CRDS / name)]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    if not all((CRDS / name).exists() for name in CRD_FILES):
        pytest.skip(f"the KubeVirt CRDs are not in {CRDS}")
    async with FakeApiServer(crds=crds()) as server:
        configuration = Configuration()
        await load_kube_config_from_dict(server.kubeconfig(), client_configuration=configuration)
        async with ApiClient(configuration) as client:
            core = CoreV1Api(client)
            server.registry.create(
                server.registry.find("namespaces"), None, {"metadata": {"name": NAMESPACE}}
            )
            provider = KubeVirtProvider(client, NAMESPACE, page_size=2)
            yield World(server, client, provider, core, CustomObjectsApi(client))


async def get_vm(world: World, name: str) -> dict[str, Any]:
    vm: dict[str, Any] = await world.custom.get_namespaced_custom_object(
        "kubevirt.io", "v1", NAMESPACE, "virtualmachines", name
    )
    return vm


async def set_data_volume_phase(world: World, name: str, phase: str) -> None:
    await world.custom.patch_namespaced_custom_object_status(
        "cdi.kubevirt.io",
        "v1beta1",
        NAMESPACE,
        "datavolumes",
        name,
        {"status": {"phase": phase}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_kubevirt_provider_keeps_the_contract(
    world: World, check: Callable[[VMProvider], Awaitable[None]]
) -> None:
    await check(world.provider)


async def test_launch_stores_a_vm_the_real_schema_accepts_with_user_data_in_a_secret(
    world: World,
) -> None:
    req = request()
    await world.provider.launch(req)
    vm = await get_vm(world, req.name)
    volumes = {v["name"]: v for v in vm["spec"]["template"]["spec"]["volumes"]}
    secret_name = user_data_secret_name(req.name)
    assert volumes["cloudinit"]["cloudInitNoCloud"] == {"secretRef": {"name": secret_name}}
    secret = await world.core.read_namespaced_secret(secret_name, NAMESPACE)
    assert base64.b64decode(secret.data["userdata"]).decode() == req.user_data
    assert secret.type == "Opaque"
    creates = [e for e in world.server.audit if e.verb == "create" and "virtualmachines" in e.path]
    assert creates and all(e.query.get("fieldValidation") == "Strict" for e in creates)


async def test_misspelt_field_is_rejected_by_strict_validation(world: World) -> None:
    await world.provider.launch(request())
    vm = await get_vm(world, request().name)
    vm["metadata"] = {"name": "typo", "namespace": NAMESPACE}
    cloud_init = vm["spec"]["template"]["spec"]["volumes"][1]["cloudInitNoCloud"]
    cloud_init["userDataSecretRef"] = cloud_init.pop("secretRef")
    with pytest.raises(ApiException) as caught:
        await world.custom.create_namespaced_custom_object(
            "kubevirt.io", "v1", NAMESPACE, "virtualmachines", vm, field_validation="Strict"
        )
    assert "userDataSecretRef" in str(caught.value.body)


async def test_data_volume_vm_is_provisioning_until_the_clone_succeeds(world: World) -> None:
    golden = ImageSource("golden", data_volume=DataVolumeSource("images", "golden", 20 * GIB))
    base = request()
    req = LaunchRequest(
        base.name, base.tenant, base.pool, base.shape, golden, base.user_data, base.host
    )
    await world.provider.launch(req)
    (vm,) = await world.provider.list("team-a")
    assert vm.phase is VMPhase.PROVISIONING

    dv_name = f"{req.name}-root"
    labels = (await get_vm(world, req.name))["metadata"]["labels"]
    await world.custom.create_namespaced_custom_object(
        "cdi.kubevirt.io",
        "v1beta1",
        NAMESPACE,
        "datavolumes",
        {
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataVolume",
            "metadata": {"name": dv_name, "labels": labels},
            "spec": {"source": {"pvc": {"namespace": "images", "name": "golden"}}},
        },
    )
    await set_data_volume_phase(world, dv_name, "CloneInProgress")
    (vm,) = await world.provider.list("team-a")
    assert vm.phase is VMPhase.PROVISIONING and "CloneInProgress" in vm.reason

    await set_data_volume_phase(world, dv_name, "Succeeded")
    (vm,) = await world.provider.list("team-a")
    assert vm.phase is VMPhase.PENDING


async def test_running_vmi_gives_phase_and_host(world: World) -> None:
    req = request()
    await world.provider.launch(req)
    labels = (await get_vm(world, req.name))["metadata"]["labels"]
    # The VMI CRD has no status subresource: its status is written with the object.
    vmi = {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachineInstance",
        "metadata": {"name": req.name, "labels": labels},
        "spec": {"domain": {"devices": {}}},
        "status": {
            "phase": "Running",
            "nodeName": "metal-9",
            "phaseTransitionTimestamps": [
                {"phase": "Running", "phaseTransitionTimestamp": "2024-05-01T10:00:00Z"}
            ],
        },
    }
    await world.custom.create_namespaced_custom_object(
        "kubevirt.io", "v1", NAMESPACE, "virtualmachineinstances", vmi
    )
    (vm,) = await world.provider.list("team-a")
    assert (vm.phase, vm.host) == (VMPhase.RUNNING, "metal-9")
    assert vm.phase_since == 1714557600.0


async def test_delete_removes_the_vm_and_its_secret(world: World) -> None:
    req = request()
    await world.provider.launch(req)
    await world.provider.delete(req.name)
    assert await world.provider.list("team-a") == []
    secrets = await world.core.list_namespaced_secret(NAMESPACE)
    assert [s.metadata.name for s in secrets.items] == []


async def test_relaunch_after_an_interrupted_launch_refreshes_the_user_data(world: World) -> None:
    req = request()
    await world.provider.launch(req)
    # As if the process died after creating the Secret and before creating the VM.
    await world.custom.delete_namespaced_custom_object(
        "kubevirt.io", "v1", NAMESPACE, "virtualmachines", req.name
    )
    fresh = LaunchRequest(
        req.name, req.tenant, req.pool, req.shape, req.image, "#cloud-config\n# new\n", req.host
    )
    await world.provider.launch(fresh)
    secret = await world.core.read_namespaced_secret(user_data_secret_name(req.name), NAMESPACE)
    assert base64.b64decode(secret.data["userdata"]).decode() == fresh.user_data
    assert [vm.name for vm in await world.provider.list("team-a")] == [req.name]


async def test_launch_into_a_missing_namespace_is_not_ready(world: World) -> None:
    provider = KubeVirtProvider(world.client, "no-such-namespace")
    with pytest.raises(NotReady):
        await provider.launch(request())


async def test_server_errors_are_retryable_provider_errors(world: World) -> None:
    world.server.faults.fail(verb="list", resource="virtualmachines", status=503)
    with pytest.raises(ProviderError) as caught:
        await world.provider.list("team-a")
    assert caught.value.retryable


async def test_hosts_from_management_nodes_and_pods(world: World) -> None:
    def node(name: str, schedulable: str) -> dict[str, Any]:
        return {
            "metadata": {"name": name, "labels": {"kubevirt.io/schedulable": schedulable}},
            "status": {
                "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }

    def pod(name: str, node_name: str, cpu: str, phase: str = "Running") -> dict[str, Any]:
        container = {"name": "c", "image": "x", "resources": {"requests": {"cpu": cpu}}}
        return {
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"nodeName": node_name, "containers": [container]},
            "status": {"phase": phase},
        }

    registry = world.server.registry
    nodes = [node("metal-1", "true"), node("metal-2", "true"), node("infra-1", "false")]
    registry.seed(registry.find("nodes"), nodes)
    pods = [
        pod("virt-launcher-a", "metal-1", "4"),
        pod("virt-launcher-b", "metal-1", "2"),
        pod("virt-launcher-c", "infra-1", "8"),
        pod("virt-launcher-d", "metal-2", "8", phase="Succeeded"),
    ]
    registry.seed(registry.find("pods"), pods)
    hosts = await world.provider.hosts()
    assert [(h.name, h.allocatable.cpu, h.allocated.cpu) for h in hosts] == [
        ("metal-1", 32_000, 6_000),
        ("metal-2", 32_000, 0),
    ]
