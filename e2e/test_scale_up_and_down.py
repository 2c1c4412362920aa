"""The whole ``kubevirt-autoscaler run`` process scales a tenant up and back to zero.

The same body runs on self-started fake API servers and agents ([fake-servers]) and, when the
environment names them, on real kind clusters with KubeVirt ([real-clusters]).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.watch import Watch
from kvpool_e2e_kube import (
    PYTHON,
    JsonDict,
    apply_custom_object,
    apply_namespace,
    is_cordoned,
    is_ready,
    is_unschedulable,
    list_vms,
    plan_json,
    process,
    stop,
    until,
)
from kvpool_e2e_manifests import POOL, POOL_LABELS, kubeconfig_secret, node_pool, tenant_cluster
from kvpool_e2e_worlds import World

from autoscaler.api.naming import MANAGED_BY, MANAGED_BY_LABEL, POOL_LABEL, TENANT_LABEL
from autoscaler.rawjson import call_json

REPLICAS = 3
WORKLOAD = "web"
POD_CPU, POD_MEMORY = "500m", "512Mi"
POOL_SELECTOR = ",".join(f"{key}={value}" for key, value in POOL_LABELS.items())


async def register_tenant(world: World) -> None:
    registration = world.registration
    for namespace in (registration.namespace, registration.vm_namespace):
        await apply_namespace(world.management, namespace)
    if world.tenant_kubeconfig_for_secret is not None:
        secret = kubeconfig_secret(registration, world.tenant_kubeconfig_for_secret)
        core = CoreV1Api(world.management)
        try:
            await call_json(core.create_namespaced_secret, registration.namespace, secret)
        except ApiException as error:
            if error.status != 409:
                raise
            await call_json(
                core.replace_namespaced_secret,
                registration.kubeconfig_secret,
                registration.namespace,
                secret,
            )
    await apply_custom_object(
        world.management, "tenantclusters", tenant_cluster(registration), registration.namespace
    )
    await apply_custom_object(world.tenant, "nodepools", node_pool(registration))


async def workload_pods(world: World) -> list[JsonDict]:
    listing = await call_json(
        CoreV1Api(world.tenant).list_namespaced_pod, "default", label_selector=f"app={WORKLOAD}"
    )
    return [pod for pod in listing["items"] if not pod["metadata"].get("deletionTimestamp")]


async def pool_vms(world: World) -> list[JsonDict]:
    registration = world.registration
    selector = f"{TENANT_LABEL}={registration.tenant},{POOL_LABEL}={POOL}"
    return await list_vms(world.management, registration.vm_namespace, selector)


async def pool_nodes(world: World) -> list[JsonDict]:
    listing = await call_json(CoreV1Api(world.tenant).list_node, label_selector=POOL_SELECTOR)
    return list(listing["items"])


async def check_plan_explains_pending_pods(world: World) -> None:
    plan = await plan_json(
        world.management_kubeconfig, world.registration.namespace, world.timeouts.command
    )
    (team,) = [t for t in plan["tenants"] if t["tenant"] == world.registration.tenant]
    assert team["pending_pods"] == REPLICAS, team
    # Explanations group equivalent pods; together they cover every pending pod.
    assert sum(explanation["pods"] for explanation in team["pending"]) == REPLICAS, team
    assert all(explanation["verdict"] for explanation in team["pending"]), team
    if not world.controller_in_cluster:
        # Nothing has acted yet, so every pending pod needs a new VM of the pool.
        assert {explanation["verdict"] for explanation in team["pending"]} == {"NewVM"}, team
        prefix = f"launch VM {world.registration.tenant}-{POOL}-"
        assert any(action.startswith(prefix) for action in team["actions"]), team


async def check_vm(world: World, vm: JsonDict) -> None:
    registration = world.registration
    name = vm["metadata"]["name"]
    labels = vm["metadata"]["labels"]
    assert labels[TENANT_LABEL] == registration.tenant, labels
    assert labels[POOL_LABEL] == POOL, labels
    assert labels[MANAGED_BY_LABEL] == MANAGED_BY, labels
    volumes = {volume["name"]: volume for volume in vm["spec"]["template"]["spec"]["volumes"]}
    disks = [v["containerDisk"]["image"] for v in volumes.values() if "containerDisk" in v]
    assert disks == [registration.container_disk], f"VM {name} boots {disks}"
    (cloud_init,) = [v["cloudInitNoCloud"] for v in volumes.values() if "cloudInitNoCloud" in v]
    secret_name = cloud_init["secretRef"]["name"]
    secret = await call_json(
        CoreV1Api(world.management).read_namespaced_secret, secret_name, registration.vm_namespace
    )
    (user_data,) = secret["data"].values()
    cloud_config = base64.b64decode(user_data).decode()
    assert cloud_config.startswith("#cloud-config"), f"user data of {name}: {cloud_config[:80]!r}"
    assert isinstance(yaml.safe_load(cloud_config), dict), f"user data of {name} is not YAML"


def check_zones(vms: list[JsonDict], nodes: list[JsonDict]) -> None:
    """A VM pinned to a zone (its hosts have zone labels) has a Node with the same labels."""
    labels = {node["metadata"]["name"]: node["metadata"].get("labels", {}) for node in nodes}
    for vm in vms:
        name = vm["metadata"]["name"]
        selector = vm["spec"]["template"]["spec"].get("nodeSelector") or {}
        for key in ("topology.kubernetes.io/zone", "topology.kubernetes.io/region"):
            if key in selector:
                assert labels[name].get(key) == selector[key], f"Node {name}: {key}"


async def scaled_up(world: World) -> tuple[list[JsonDict], list[JsonDict]] | None:
    pods = await workload_pods(world)
    if len(pods) != REPLICAS or not all(pod["status"].get("phase") == "Running" for pod in pods):
        return None
    vms = await pool_vms(world)
    nodes = {node["metadata"]["name"]: node for node in await pool_nodes(world)}
    if not vms or any(not is_ready(node) for node in nodes.values()):
        return None
    return vms, list(nodes.values())


async def record_cordoned_nodes(world: World, cordoned: set[str]) -> None:
    """Adds the name of every pool node seen cordoned, until cancelled."""
    core = CoreV1Api(world.tenant)
    while True:
        listing = await call_json(core.list_node, label_selector=POOL_SELECTOR)
        cordoned.update(n["metadata"]["name"] for n in listing["items"] if is_cordoned(n))
        version = listing["metadata"]["resourceVersion"]
        async with Watch(return_type="object") as watch:
            async for event in watch.stream(
                core.list_node,
                label_selector=POOL_SELECTOR,
                resource_version=version,
                timeout_seconds=60,
            ):
                node = event["raw_object"]
                if event["type"] in ("ADDED", "MODIFIED") and is_cordoned(node):
                    cordoned.add(node["metadata"]["name"])


@pytest.mark.slow
async def test_a_workload_gets_vms_and_gives_them_back(world: World, tmp_path: Path) -> None:
    timeouts = world.timeouts
    await register_tenant(world)
    async with world.workload(WORKLOAD, REPLICAS, POD_CPU, POD_MEMORY) as workload:

        async def all_pending() -> bool:
            pods = await workload_pods(world)
            return len(pods) == REPLICAS and all(is_unschedulable(pod) for pod in pods)

        await until(all_pending, timeouts.pending, f"{REPLICAS} pods marked Unschedulable")
        await check_plan_explains_pending_pods(world)

        settings = tmp_path / "settings.yaml"
        settings.write_text(yaml.safe_dump(world.controller_settings))
        run = (
            PYTHON,
            "-m",
            "autoscaler",
            "run",
            "--kubeconfig",
            str(world.management_kubeconfig),
            "--config",
            str(settings),
        )
        async with process(*run) as controller:
            vms, nodes = await until(
                lambda: scaled_up(world), timeouts.scale_up, "pods running on new Ready nodes"
            )
            for vm in vms:
                await check_vm(world, vm)
            vm_names = {vm["metadata"]["name"] for vm in vms}
            assert {node["metadata"]["name"] for node in nodes} == vm_names
            check_zones(vms, nodes)
            hosts = {pod["spec"]["nodeName"] for pod in await workload_pods(world)}
            assert hosts <= vm_names, f"pods run on {hosts}, the pool's VMs are {vm_names}"

            cordoned: set[str] = set()
            recorder = asyncio.create_task(record_cordoned_nodes(world, cordoned))
            try:
                await workload.scale(0)

                async def all_gone() -> bool:
                    return not await pool_vms(world) and not await pool_nodes(world)

                await until(all_gone, timeouts.scale_down, "every VM and Node of the pool gone")
            finally:
                recorder.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await recorder
            assert cordoned >= vm_names, f"deleted without being cordoned: {vm_names - cordoned}"
            assert not await workload_pods(world)

            assert await asyncio.wait_for(stop(controller), timeouts.command) == 0
