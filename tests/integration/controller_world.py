"""A management cluster and tenant clusters as fake API servers, and objects to fill them.

Objects are written straight into the servers' registries (no HTTP) so that a test sets up its
world quickly; the controller under test talks to the servers over real HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient

from autoscaler.controller.actuator import ActuatorOptions
from autoscaler.controller.manager import Manager, ManagerSettings
from autoscaler.controller.tenant import LoopSettings
from autoscaler.core.batching import BatchWindows
from autoscaler.core.config import CoreConfig
from autoscaler.kube.drain import DrainSettings
from autoscaler.kube.informer import InformerSettings
from autoscaler.observability.metrics import Metrics
from autoscaler.rawjson import MERGE_PATCH
from testbed.agents import (
    FailureInjection,
    KubevirtAgent,
    KubevirtAgentConfig,
    KubevirtTiming,
    SchedulerAgent,
    SchedulerConfig,
)
from testbed.apiserver import FakeApiServer
from testbed.apiserver.crds import KUBEVIRT_CRDS
from testbed.controller_bench import kubeconfig_secret, unschedulable_status

ROOT = Path(__file__).resolve().parents[2]
PROJECT_CRDS = ROOT / "manifests" / "crds"
NAMESPACE = "kvpool-system"
GI = 1024**3
WORLD_TIMEOUT = 60.0

FAST_INFORMER = InformerSettings(
    watch_timeout_seconds=30, inactivity_timeout=5.0, backoff_base=0.05, backoff_max=0.2
)
FAST_CORE = CoreConfig(
    scale_down_validation_delay=0.2,
    drain_timeout=3.0,  # also how long an aborted scale-down keeps a node off the list
    drain_retry_interval=0.3,
    delete_delay_after_drain=0.1,
    scale_down_cooldown_after_scale_up=0.0,
    backoff_base=0.5,
    backoff_max=2.0,
)


def fast_loop_settings(core: CoreConfig = FAST_CORE, **changes: Any) -> LoopSettings:
    options: dict[str, Any] = {
        "windows": BatchWindows(idle_seconds=0.05, max_seconds=0.5, scan_interval_seconds=0.2),
        "core": core,
        "informer": FAST_INFORMER,
        "actuator": ActuatorOptions(
            drain=DrainSettings(timeout=5.0, poll_interval=0.05, backoff_base=0.05, backoff_max=0.2)
        ),
        "probe_timeout": 1.0,
        "retry_seconds": 0.1,
    }
    options.update(changes)
    return LoopSettings(**options)


FAST_MANAGER = ManagerSettings(
    namespace=NAMESPACE,
    resync_seconds=0.5,
    host_refresh_seconds=0.1,
    garbage_interval_seconds=0.2,
    orphan_grace_seconds=0.5,
    informer=FAST_INFORMER,
)


def resource(server: FakeApiServer, name: str) -> Any:
    return server.registry.find(name)


def put(
    server: FakeApiServer, kind: str, obj: dict[str, Any], namespace: str | None = None
) -> None:
    server.registry.create(resource(server, kind), namespace, obj)


def get(
    server: FakeApiServer, kind: str, name: str, namespace: str | None = None
) -> dict[str, Any]:
    return server.registry.get(resource(server, kind), namespace, name).load()


def exists(server: FakeApiServer, kind: str, name: str, namespace: str | None = None) -> bool:
    try:
        get(server, kind, name, namespace)
    except Exception:
        return False
    return True


def items(
    server: FakeApiServer, kind: str, namespace: str | None = None, labels: str = ""
) -> list[dict[str, Any]]:
    listed = server.registry.list_objects(resource(server, kind), namespace, label_selector=labels)
    return [record.load() for record in listed.records]


def patch(
    server: FakeApiServer,
    kind: str,
    name: str,
    body: dict[str, Any],
    namespace: str | None = None,
    subresource: str = "",
) -> None:
    server.registry.patch(
        resource(server, kind), namespace, name, body, MERGE_PATCH, subresource=subresource
    )


def delete(server: FakeApiServer, kind: str, name: str, namespace: str | None = None) -> None:
    server.registry.delete(resource(server, kind), namespace, name)


# Objects ----------------------------------------------------------------------------------


def tenant_cluster(
    name: str, vm_namespace: str | None = None, weight: int = 1, **spec: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "autoscaling.kvpool.io/v1alpha1",
        "kind": "TenantCluster",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "kubeconfigSecretRef": {"name": f"{name}-kubeconfig", "key": "value"},
            "vmNamespace": vm_namespace or f"{name}-vms",
            "images": [{"name": "k8s-1.31", "containerDisk": "registry.example/k8s:v1.31"}],
            "shapes": {
                "cpu": {"min": 1, "max": 16, "step": 1},
                "memory": {"min": "2Gi", "max": "64Gi", "step": "1Gi"},
                "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
            },
            "bootstrap": {"kind": "kubeadm", "apiServerEndpoint": f"https://{name}.example:6443"},
            "weight": weight,
        },
    }
    body["spec"].update(spec)
    return body


def nodepool(name: str, labels: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    defaults = {
        "kvpool.io/min-nodes": "0",
        "kvpool.io/max-nodes": "10",
        "kvpool.io/image": "k8s-1.31",
        "kvpool.io/cpu": "1-8",
        "kvpool.io/memory": "2Gi-32Gi",
        "kvpool.io/scale-down-unneeded-time": "1s",
    }
    defaults.update({f"kvpool.io/{k.replace('_', '-')}": v for k, v in annotations.items()})
    return {
        "apiVersion": "autoscaling.kvpool.io/v1alpha1",
        "kind": "NodePool",
        "metadata": {"name": name, "annotations": defaults},
        "spec": {"template": {"labels": labels or {"pool": name}}},
    }


def host(
    name: str, cpu: int = 32, memory_gi: int = 128, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {"kubevirt.io/schedulable": "true", "kubernetes.io/hostname": name}
            | (labels or {}),
        },
        "status": {
            "allocatable": {"cpu": str(cpu), "memory": f"{memory_gi}Gi", "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(
    name: str,
    cpu: str = "500m",
    memory: str = "512Mi",
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "app",
                "resources": {"requests": {"cpu": cpu, "memory": memory}},
            }
        ]
    }
    if node_selector:
        spec["nodeSelector"] = node_selector
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels or {"app": "web"},
            "annotations": {"kvpool.io/safe-to-evict": "true"},
        },
        "spec": spec,
    }


def mark_unschedulable(server: FakeApiServer, name: str, namespace: str = "default") -> None:
    patch(server, "pods", name, unschedulable_status(), namespace, subresource="status")


def add_pending(server: FakeApiServer, name: str, **options: Any) -> None:
    put(server, "pods", pod(name, **options))
    mark_unschedulable(server, name, options.get("namespace", "default"))


# The world --------------------------------------------------------------------------------


@dataclass
class World:
    management: FakeApiServer
    tenants: dict[str, FakeApiServer] = field(default_factory=dict)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def add_tenant(self, name: str, weight: int = 1, **spec: Any) -> FakeApiServer:
        server = await self.stack.enter_async_context(
            FakeApiServer(crds=[PROJECT_CRDS], bookmark_interval=0.1)
        )
        self.tenants[name] = server
        tc = tenant_cluster(name, weight=weight, **spec)
        vm_namespace = tc["spec"]["vmNamespace"]
        if not exists(self.management, "namespaces", vm_namespace):
            put(self.management, "namespaces", {"metadata": {"name": vm_namespace}})
        put(self.management, "secrets", kubeconfig_secret(name, server.kubeconfig()))
        put(self.management, "tenantclusters.autoscaling.kvpool.io", tc)
        return server

    async def management_client(self) -> ApiClient:
        api = await config.new_client_from_config_dict(self.management.kubeconfig())
        self.stack.push_async_callback(api.close)
        return api

    async def manager(
        self,
        loop_settings: LoopSettings | None = None,
        settings: ManagerSettings = FAST_MANAGER,
        metrics: Metrics | None = None,
        **options: Any,
    ) -> Manager:
        manager = Manager(
            await self.management_client(),
            metrics or Metrics(),
            settings=settings,
            loop_settings=loop_settings or fast_loop_settings(),
            **options,
        )
        await manager.start()
        self.stack.push_async_callback(manager.stop)
        return manager


@asynccontextmanager
async def world(hosts: int = 2, cpu: int = 32, memory_gi: int = 128) -> AsyncIterator[World]:
    crds = [PROJECT_CRDS, KUBEVIRT_CRDS]
    # A hang anywhere (teardown included) fails the test with a traceback instead.
    async with asyncio.timeout(WORLD_TIMEOUT), AsyncExitStack() as stack:
        management = await stack.enter_async_context(
            FakeApiServer(crds=crds, bookmark_interval=0.1)
        )
        put(management, "namespaces", {"metadata": {"name": NAMESPACE}})
        for index in range(hosts):
            put(management, "nodes", host(f"host-{index}", cpu, memory_gi))
        result = World(management, stack=stack)
        yield result


async def eventually(
    check: Callable[[], Any] | Callable[[], Awaitable[Any]],
    within: float = 10.0,
    interval: float = 0.05,
    message: str = "",
) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``message`` otherwise."""
    try:
        async with asyncio.timeout(within):
            while True:
                value = check()
                if asyncio.iscoroutine(value):
                    value = await value
                if value:
                    return value
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(message or f"not true within {within}s") from None


def vms(server: FakeApiServer, namespace: str) -> list[dict[str, Any]]:
    return items(server, "virtualmachines.kubevirt.io", namespace)


@asynccontextmanager
async def cluster_agents(
    w: World,
    tenants: list[str],
    never_registers: Callable[[str], bool] | None = None,
) -> AsyncIterator[None]:
    """The kubevirt agent and a scheduler for each tenant, with fast boot steps."""
    timing = KubevirtTiming(
        data_volume=0.05, schedule=0.02, boot=0.05, register=0.02, ready=0.02, delete=0.05
    )
    failures = FailureInjection(never_registers_if=never_registers)
    stack = AsyncExitStack()
    try:
        management = await w.management_client()
        for name in tenants:
            tenant = await config.new_client_from_config_dict(w.tenants[name].kubeconfig())
            stack.push_async_callback(tenant.close)
            agent_config = KubevirtAgentConfig(
                namespace=f"{name}-vms", timing=timing, failures=failures
            )
            await stack.enter_async_context(KubevirtAgent(management, tenant, agent_config))
            scheduler = SchedulerConfig(retry_seconds=0.2)
            await stack.enter_async_context(SchedulerAgent(tenant, scheduler))
        yield
    finally:
        await stack.aclose()
