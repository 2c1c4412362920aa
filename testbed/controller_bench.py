"""The real controller against fake API servers: reaction time to a burst, and cache memory.

Reaction: one tenant with default batching windows; every pod of a burst is marked
unschedulable (its status patched) at once, and each pod's reaction is the time from its patch
to the create request of the VirtualMachine launched for it arriving at the fake server. The
servers run in this process, so their work counts against the controller's time.

Memory: the fake servers run in a child process, seeded with every tenant's pods and nodes;
this process runs the controller (dry run) until every cache has synced and each tenant has
decided once, then reports its resident memory.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

import yaml
from kubernetes_asyncio import config

from autoscaler.controller.actuator import ActuatorOptions
from autoscaler.controller.launches import NamedLaunch
from autoscaler.controller.manager import Manager, ManagerSettings
from autoscaler.controller.tenant import LoopSettings, TenantLoop
from autoscaler.kube.informer import InformerSettings
from autoscaler.observability.metrics import Metrics
from autoscaler.rawjson import MERGE_PATCH
from testbed.apiserver import FakeApiServer, project_crds

NAMESPACE: Final = "kvpool-system"
PODS_PER_NODE: Final = 10


@dataclass(frozen=True, slots=True)
class ControllerFigures:
    tenants: int
    pods_cached: int
    nodes_cached: int
    reaction_seconds_p50: float
    reaction_seconds_p99: float
    rss_mib: float
    burst_pods: int = 0
    vms_launched: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "tenants": self.tenants,
            "pods_cached": self.pods_cached,
            "nodes_cached": self.nodes_cached,
            "reaction_seconds_p50": round(self.reaction_seconds_p50, 3),
            "reaction_seconds_p99": round(self.reaction_seconds_p99, 3),
            "rss_mib": round(self.rss_mib, 1),
        }


def run_controller_suite(
    tenants: int = 10, pods: int = 50_000, nodes: int = 5_000, burst: int = 5_000
) -> ControllerFigures:
    """Memory first, in a process that has not yet held the reaction world."""
    pods_cached, nodes_cached, rss = measure_memory(tenants, pods, nodes)
    times, vms = asyncio.run(measure_reaction(burst))
    return ControllerFigures(
        tenants=tenants,
        pods_cached=pods_cached,
        nodes_cached=nodes_cached,
        reaction_seconds_p50=percentile(times, 50),
        reaction_seconds_p99=percentile(times, 99),
        rss_mib=rss,
        burst_pods=len(times),
        vms_launched=vms,
    )


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def resident_mib() -> float:
    """This process's resident set size now (Linux), else its peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Objects ---------------------------------------------------------------------------------


def tenant_cluster(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.kvpool.io/v1alpha1",
        "kind": "TenantCluster",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "kubeconfigSecretRef": {"name": f"{name}-kubeconfig", "key": "value"},
            "vmNamespace": f"{name}-vms",
            "images": [{"name": "k8s", "containerDisk": "registry.example/k8s:v1.31"}],
            "shapes": {
                "cpu": {"min": 2, "max": 32, "step": 2},
                "memory": {"min": "4Gi", "max": "128Gi", "step": "2Gi"},
                "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
            },
            "bootstrap": {"kind": "kubeadm", "apiServerEndpoint": f"https://{name}.example:6443"},
        },
    }


def nodepool(max_nodes: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling.kvpool.io/v1alpha1",
        "kind": "NodePool",
        "metadata": {
            "name": "general",
            "annotations": {
                "kvpool.io/min-nodes": "0",
                "kvpool.io/max-nodes": str(max_nodes),
                "kvpool.io/image": "k8s",
                "kvpool.io/cpu": "2-32",
                "kvpool.io/memory": "4Gi-128Gi",
            },
        },
        "spec": {"template": {"labels": {"pool": "general"}}},
    }


def host(index: int) -> dict[str, Any]:
    return {
        "metadata": {"name": f"host-{index:03d}", "labels": {"kubevirt.io/schedulable": "true"}},
        "status": {
            "allocatable": {"cpu": "128", "memory": "512Gi", "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def worker_node(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": "a"}},
        "spec": {"providerID": f"kubevirt://{name}"},
        "status": {
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def workload_pod(name: str, node: str | None, namespace: str = "default") -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": name.rsplit("-", 1)[0], "tier": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": f"{name.rsplit('-', 1)[0]}-rs",
                    "uid": "00000000-0000-0000-0000-000000000001",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "registry.example/app:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                }
            ],
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}],
        },
        "status": {"phase": "Pending"},
    }
    if node is not None:
        pod["spec"]["nodeName"] = node
        pod["status"] = {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    return pod


def unschedulable_status() -> dict[str, Any]:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/0 nodes are available",
                    "lastTransitionTime": stamp,
                }
            ],
        }
    }


def kubeconfig_secret(name: str, kubeconfig: dict[str, Any]) -> dict[str, Any]:
    text = yaml.safe_dump(kubeconfig)
    return {
        "metadata": {"name": f"{name}-kubeconfig", "namespace": NAMESPACE},
        "data": {"value": base64.b64encode(text.encode()).decode()},
    }


def _create(server: FakeApiServer, kind: str, obj: dict[str, Any]) -> None:
    server.registry.create(server.registry.find(kind), None, obj)


def seed_management(server: FakeApiServer, hosts: int) -> None:
    _create(server, "namespaces", {"metadata": {"name": NAMESPACE}})
    server.registry.seed(server.registry.find("nodes"), (host(i) for i in range(hosts)))


def register_tenant(management: FakeApiServer, name: str, kubeconfig: dict[str, Any]) -> None:
    _create(management, "namespaces", {"metadata": {"name": f"{name}-vms"}})
    _create(management, "secrets", kubeconfig_secret(name, kubeconfig))
    _create(management, "tenantclusters.autoscaling.kvpool.io", tenant_cluster(name))


def seed_tenant(server: FakeApiServer, pods: int, nodes: int, max_nodes: int) -> None:
    registry = server.registry
    names = [f"worker-{i:05d}" for i in range(nodes)]
    registry.seed(registry.find("nodes"), (worker_node(n) for n in names))

    def pod_objects() -> Iterator[dict[str, Any]]:
        for i in range(pods):
            node = names[i // PODS_PER_NODE] if names and i // PODS_PER_NODE < len(names) else None
            yield workload_pod(f"app{i % 50:02d}-{i:06d}", node)

    registry.seed(registry.find("pods"), pod_objects())
    _create(server, "nodepools.autoscaling.kvpool.io", nodepool(max_nodes))


# Reaction --------------------------------------------------------------------------------


async def measure_reaction(burst: int) -> tuple[list[float], int]:
    """Seconds from each pod's unschedulable mark to its VM's create request; VMs made."""
    created: dict[str, float] = {}
    async with AsyncExitStack() as stack:
        management = await stack.enter_async_context(
            FakeApiServer(crds=project_crds(), bookmark_interval=1.0)
        )
        tenant = await stack.enter_async_context(
            FakeApiServer(crds=project_crds(), bookmark_interval=1.0)
        )
        seed_management(management, hosts=20)
        register_tenant(management, "team-a", tenant.kubeconfig())
        pods = tenant.registry.find("pods")
        for index in range(burst):  # created, not seeded: the status patches need defaults
            body = workload_pod(f"app{index % 50:02d}-{index:06d}", None)
            del body["status"]
            tenant.registry.create(pods, "default", body)
        _create(tenant, "nodepools.autoscaling.kvpool.io", nodepool(1000))
        _record_vm_creates(management, created)

        api = await config.new_client_from_config_dict(management.kubeconfig())
        stack.push_async_callback(api.close)
        manager = Manager(
            api,
            Metrics(),
            settings=ManagerSettings(namespace=NAMESPACE),
            loop_settings=LoopSettings(actuator=ActuatorOptions()),
        )
        await manager.start()
        stack.push_async_callback(manager.stop)
        loop = await _wait_for_loops(manager, 1)
        await _until(lambda: loop.decisions > 0, 60.0)

        marked = _mark_burst(tenant)
        wanted = set(marked)
        launches: dict[str, str] = {}  # pod -> VM
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline and set(launches) < wanted:
            for outcome in loop.last_outcomes:
                step = outcome.step
                if outcome.ok and isinstance(step, NamedLaunch):
                    launches.update(dict.fromkeys(step.action.pods, step.name))
            await asyncio.sleep(0.05)
        reactions = [
            created[vm] - marked[pod.removeprefix("default/")]
            for pod, vm in launches.items()
            if vm in created and pod.removeprefix("default/") in marked
        ]
        return reactions, len({vm for vm in launches.values() if vm in created})


def _record_vm_creates(server: FakeApiServer, created: dict[str, float]) -> None:
    registry = server.registry
    original: Callable[..., Any] = registry.create

    def create(rtype: Any, namespace: Any, body: Any, **options: Any) -> Any:
        record = original(rtype, namespace, body, **options)
        if rtype.plural == "virtualmachines" and not options.get("dry_run"):
            created.setdefault(record.name, time.monotonic())
        return record

    registry.create = create  # type: ignore[method-assign]


def _mark_burst(tenant: FakeApiServer) -> dict[str, float]:
    registry = tenant.registry
    pods = registry.find("pods")
    marked: dict[str, float] = {}
    for record in registry.list_objects(pods, "default").records:
        registry.patch(
            pods, "default", record.name, unschedulable_status(), MERGE_PATCH, subresource="status"
        )
        marked[record.name] = time.monotonic()
    return marked


async def _wait_for_loops(manager: Manager, count: int) -> TenantLoop:
    await _until(lambda: len(manager.loops) >= count, 60.0)
    return next(iter(manager.loops.values())).loop


async def _until(check: Callable[[], bool], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if check():
                return
            await asyncio.sleep(0.05)


# Memory ----------------------------------------------------------------------------------


def measure_memory(tenants: int, pods: int, nodes: int) -> tuple[int, int, float]:
    """Pods and nodes in the caches and this process's resident MiB, servers elsewhere."""
    # Fork (where there is one) needs no importable __main__; nothing runs in this process
    # yet, no event loop and no client threads.
    methods = multiprocessing.get_all_start_methods()
    context: Any = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    parent, child = context.Pipe()
    server = context.Process(
        target=serve_world, args=(child, tenants, pods // tenants, nodes // tenants), daemon=True
    )
    server.start()
    try:
        if not parent.poll(300):
            raise RuntimeError("the fake API servers did not start")
        management_config = parent.recv()
        return asyncio.run(_cache_everything(management_config, tenants))
    finally:
        parent.send("stop")
        server.join(10)
        if server.is_alive():
            server.kill()


async def _cache_everything(
    management_config: dict[str, Any], tenants: int
) -> tuple[int, int, float]:
    api = await config.new_client_from_config_dict(management_config)
    manager = Manager(
        api,
        Metrics(),
        settings=ManagerSettings(namespace=NAMESPACE, host_refresh_seconds=30.0),
        loop_settings=LoopSettings(
            actuator=ActuatorOptions(dry_run=True),
            informer=InformerSettings(page_size=500),
        ),
    )
    try:
        await manager.start()
        await _until(lambda: len(manager.loops) >= tenants, 120.0)
        loops = [running.loop for running in manager.loops.values()]
        await _until(lambda: all(loop.decisions > 0 for loop in loops), 300.0)
        gc.collect()
        pods = sum(len(loop.sources.pods) for loop in loops)
        nodes = sum(len(loop.sources.nodes) for loop in loops)
        return pods, nodes, resident_mib()
    finally:
        await manager.stop()
        await api.close()


def serve_world(connection: Connection, tenants: int, pods: int, nodes: int) -> None:
    """The child process: a management server and ``tenants`` tenant servers, seeded."""
    asyncio.run(_serve_world(connection, tenants, pods, nodes))


async def _serve_world(connection: Connection, tenants: int, pods: int, nodes: int) -> None:
    async with AsyncExitStack() as stack:
        crds = project_crds()
        management = await stack.enter_async_context(FakeApiServer(crds=crds))
        seed_management(management, hosts=50)
        for index in range(tenants):
            tenant = await stack.enter_async_context(FakeApiServer(crds=crds))
            seed_tenant(tenant, pods=pods, nodes=nodes, max_nodes=nodes + 100)
            register_tenant(management, f"tenant-{index:02d}", tenant.kubeconfig())
        connection.send(management.kubeconfig())
        loop = asyncio.get_running_loop()
        while not connection.poll():
            await loop.run_in_executor(None, connection.poll, 0.5)
