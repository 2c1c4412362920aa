"""``kubevirt-autoscaler run`` as its own process against fake API servers in processes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from autoscaler.kube.raw import call_json

T = TypeVar("T")
GROUP, VERSION = "autoscaling.kvpool.io", "v1alpha1"
NAMESPACE = "kvpool-system"
PYTHON = sys.executable
AGENT_FLAGS = [
    "--schedule-seconds=0.05",
    "--boot-seconds=0.1",
    "--register-seconds=0.05",
    "--ready-seconds=0.05",
    "--delete-seconds=0.05",
    "--scheduler-retry-seconds=0.2",
    "--log-level=WARNING",
]
SETTINGS = {
    "namespace": NAMESPACE,
    "leader_elect": True,
    "lease_duration_seconds": 4,
    "renew_deadline_seconds": 3,
    "retry_period_seconds": 0.5,
    "metrics_port": 0,
    "metrics_host": "127.0.0.1",
    "batch_idle_seconds": 0.1,
    "batch_max_seconds": 0.5,
    "scan_interval_seconds": 0.3,
    "host_refresh_seconds": 0.2,
    "tenant_resync_seconds": 1,
    "garbage_interval_seconds": 1,
    "watch_backoff_max_seconds": 0.5,
    "log_level": "info",
    "core": {
        "scale_down_validation_delay": 0.3,
        "drain_retry_interval": 0.5,
        "delete_delay_after_drain": 0.1,
        "scale_down_cooldown_after_scale_up": 0,
    },
}


async def until(probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def process(
    *args: str, ready: str | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KVPOOL_")}
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env
    )
    try:
        if ready is not None:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert ready in line.decode(), line
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def api_server(stack: AsyncExitStack, kubeconfig: Path) -> ApiClient:
    await stack.enter_async_context(
        process(
            PYTHON,
            "-m",
            "autoscaler.sim.apiserver",
            "--project-crds",
            "--bookmark-interval=0.2",
            "--kubeconfig",
            str(kubeconfig),
            ready="http://",
        )
    )
    client = await config.new_client_from_config(str(kubeconfig))
    stack.push_async_callback(client.close)
    return client


def nodepool() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodePool",
        "metadata": {
            "name": "general",
            "annotations": {
                "kvpool.io/min-nodes": "0",
                "kvpool.io/max-nodes": "5",
                "kvpool.io/image": "k8s-1.31",
                "kvpool.io/cpu": "1-4",
                "kvpool.io/memory": "2Gi-16Gi",
                "kvpool.io/scale-down-unneeded-time": "1s",
            },
        },
        "spec": {"template": {"labels": {"pool": "general"}}},
    }


def tenant_cluster() -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TenantCluster",
        "metadata": {"name": "team-a", "namespace": NAMESPACE},
        "spec": {
            "kubeconfigSecretRef": {"name": "team-a-kubeconfig", "key": "value"},
            "vmNamespace": "team-a-vms",
            "images": [{"name": "k8s-1.31", "containerDisk": "registry.example/k8s:v1.31"}],
            "shapes": {
                "cpu": {"min": 1, "max": 8, "step": 1},
                "memory": {"min": "2Gi", "max": "32Gi", "step": "1Gi"},
                "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
            },
            "bootstrap": {"kind": "kubeadm", "apiServerEndpoint": "https://team-a.example:6443"},
        },
    }


def pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "app",
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                }
            ]
        },
    }


def encoded(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


async def seed(management: ApiClient, tenant: ApiClient, tenant_kubeconfig: Path) -> None:
    core = CoreV1Api(management)
    for namespace in (NAMESPACE, "team-a-vms"):
        await call_json(core.create_namespace, {"metadata": {"name": namespace}})
    await call_json(
        core.create_node,
        {
            "metadata": {"name": "host-a", "labels": {"kubevirt.io/schedulable": "true"}},
            "status": {
                "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )
    secret = encoded(tenant_kubeconfig)
    await call_json(
        core.create_namespaced_secret,
        NAMESPACE,
        {"metadata": {"name": "team-a-kubeconfig"}, "data": {"value": secret}},
    )
    custom = CustomObjectsApi(management)
    await call_json(
        custom.create_namespaced_custom_object,
        GROUP,
        VERSION,
        NAMESPACE,
        "tenantclusters",
        tenant_cluster(),
    )
    await call_json(
        CustomObjectsApi(tenant).create_cluster_custom_object,
        GROUP,
        VERSION,
        "nodepools",
        nodepool(),
    )


def write_settings(path: Path) -> None:
    path.write_text(yaml.safe_dump(SETTINGS))


@pytest.mark.slow
async def test_run_process_scales_a_tenant_up_and_down_and_stops_on_sigterm(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        management_file, tenant_file = tmp_path / "management.yaml", tmp_path / "tenant.yaml"
        management = await api_server(stack, management_file)
        tenant = await api_server(stack, tenant_file)
        await seed(management, tenant, tenant_file)
        await stack.enter_async_context(
            process(
                PYTHON,
                "-m",
                "autoscaler.sim.agents",
                "--management",
                str(management_file),
                "--tenant",
                str(tenant_file),
                *AGENT_FLAGS,
                ready="agents ready",
            )
        )
        tenant_core = CoreV1Api(tenant)
        for index in range(3):
            await call_json(tenant_core.create_namespaced_pod, "default", pod(f"web-{index}"))

        async def all_unschedulable() -> bool:
            pods = (await call_json(tenant_core.list_namespaced_pod, "default"))["items"]
            return len(pods) == 3 and all(
                any(c.get("reason") == "Unschedulable" for c in p["status"].get("conditions", []))
                for p in pods
            )

        await until(all_unschedulable)
        plan = await asyncio.create_subprocess_exec(
            PYTHON,
            "-m",
            "autoscaler",
            "plan",
            "--kubeconfig",
            str(management_file),
            "--namespace",
            NAMESPACE,
            "--json",
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(plan.communicate(), 60)
        assert plan.returncode == 0
        (team,) = json.loads(out)["tenants"]
        assert team["tenant"] == "team-a" and team["pending_pods"] == 3
        assert any(a.startswith("launch VM team-a-general-") for a in team["actions"])
        assert {e["verdict"] for e in team["pending"]} == {"NewVM"}

        settings_file = tmp_path / "settings.yaml"
        write_settings(settings_file)
        controller = await stack.enter_async_context(
            process(
                PYTHON,
                "-m",
                "autoscaler",
                "run",
                "--kubeconfig",
                str(management_file),
                "--config",
                str(settings_file),
            )
        )

        async def all_bound() -> bool:
            pods = (await call_json(tenant_core.list_namespaced_pod, "default"))["items"]
            return bool(pods) and all(p["spec"].get("nodeName") for p in pods)

        await until(all_bound)
        custom = CustomObjectsApi(management)

        async def vm_names() -> list[str]:
            listing = await call_json(
                custom.list_namespaced_custom_object,
                "kubevirt.io",
                "v1",
                "team-a-vms",
                "virtualmachines",
            )
            return [vm["metadata"]["name"] for vm in listing["items"]]

        assert await vm_names()
        for index in range(3):
            await call_json(tenant_core.delete_namespaced_pod, f"web-{index}", "default")

        async def scaled_down() -> bool:
            nodes = (await call_json(tenant_core.list_node))["items"]
            return not await vm_names() and not nodes

        await until(scaled_down)
        controller.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(controller.wait(), 15) == 0
