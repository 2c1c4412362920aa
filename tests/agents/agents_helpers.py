"""Objects and waits shared by the agents' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from autoscaler.api.cloudinit import BootstrapToken, KubeadmJoin, kubeadm_join_user_data
from autoscaler.api.policy import DataVolumeSource, ImageSource, Shape
from autoscaler.api.vmbuilder import VMIdentity, build_user_data_secret, build_vm
from autoscaler.core.model import Taint, TaintEffect

GI = 2**30
T = TypeVar("T")

CONTAINER_DISK = ImageSource("k8s", container_disk="registry.example/worker:v1")
GOLDEN = ImageSource(
    "golden", data_volume=DataVolumeSource("images", "golden", 20 * GI, "standard")
)
JOIN = KubeadmJoin("https://tenant.example:6443", BootstrapToken("abcdef", "0123456789abcdef"))


async def until(probe: Callable[[], Awaitable[T | None]], within: float = 5.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail the test if it never does."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.02)


def host_node(
    name: str, cpu: str = "16", memory: str = "64Gi", labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A bare-metal host of the management cluster that KubeVirt may use."""
    return {
        "metadata": {
            "name": name,
            "labels": {"kubevirt.io/schedulable": "true", **(labels or {})},
        },
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "250"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def worker_vm(
    name: str,
    *,
    cpu: int = 2,
    memory_gi: int = 4,
    namespace: str = "vms",
    pool: str = "general",
    image: ImageSource = CONTAINER_DISK,
    pool_labels: Mapping[str, str] | None = None,
    pool_taints: Sequence[Taint] = (),
    host: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A VM and its user-data Secret, as the autoscaler's builders make them."""
    identity = VMIdentity(name, namespace, "team-a", pool, Shape(cpu * 1000, memory_gi * GI), image)
    user_data = kubeadm_join_user_data(identity, JOIN, pool_labels or {}, pool_taints)
    return build_vm(identity, host), build_user_data_secret(identity, user_data)


GPU_TAINT = Taint("gpu", TaintEffect.NO_SCHEDULE, "true")


def pod(
    name: str,
    cpu: str = "500m",
    memory: str = "512Mi",
    labels: Mapping[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ],
            **spec,
        },
    }


def ready_node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    labels: Mapping[str, str] | None = None,
    ready: bool = True,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": dict(labels or {})},
        "spec": dict(spec),
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def condition(obj: Mapping[str, Any] | None, kind: str) -> dict[str, Any] | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or []:
        if isinstance(entry, dict) and entry.get("type") == kind:
            return entry
    return None
