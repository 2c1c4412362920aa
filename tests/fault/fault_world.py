"""The world a fault run happens in: fake API servers, agents and workloads in this process, and
the real ``kubevirt-autoscaler run`` as a child process that a run may kill with SIGKILL.

Every API server listens twice on loopback: the agents and the checks use one port, the
controller (through its kubeconfig and the tenants' kubeconfig Secrets) the other, so that a
fault matched by port hits only the controller's traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from controller_world import (
    NAMESPACE,
    PROJECT_CRDS,
    host,
    items,
    nodepool,
    patch,
    put,
    tenant_cluster,
)
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient
from kvpool_e2e_manifests import workload_pod_template
from kvpool_e2e_worlds import FAST_CONTROLLER

from autoscaler.controller.settings import Settings
from testbed.agents import (
    KubevirtAgent,
    KubevirtAgentConfig,
    KubevirtTiming,
    SchedulerAgent,
    SchedulerConfig,
)
from testbed.agents.replicaset import ReplicaSetAgent
from testbed.apiserver import FakeApiServer
from testbed.apiserver.crds import KUBEVIRT_CRDS
from testbed.controller_bench import kubeconfig_secret
from testbed.kubeconfig import write_kubeconfig

POD_CPU, POD_MEMORY = "500m", "512Mi"
PDBS = "poddisruptionbudgets.policy"
POOL = "general"
# Small VMs, so that a workload spans several and a shrink empties some.
POOL_CPU, POOL_MEMORY = "1-2", "2Gi-4Gi"
# How long a NodePool's node must stay unneeded before it goes: long enough that pods bound to
# a node the controller last saw empty arrive before the deletion would.
UNNEEDED = "3s"

GOLDEN_IMAGE = {
    "name": "k8s-1.31",
    "dataVolume": {"sourcePVC": {"namespace": "images", "name": "k8s-1.31-golden"}, "size": "20Gi"},
}
CONTAINER_DISK_IMAGE = {"name": "k8s-1.31", "containerDisk": "registry.example/k8s:v1.31"}

# What the controller gets besides the e2e suite's fast settings. Settings this version of the
# controller does not know (the model forbids unknown keys) are left out and reported.
WANTED_SETTINGS: dict[str, Any] = {
    "orphan_grace_seconds": 2,
    "tenant_probe_timeout_seconds": 1,
    "watch_inactivity_seconds": 4,
    "watch_inactivity_timeout_seconds": 4,
    "request_timeout_seconds": 3,
}
# The watch inactivity window the runs are judged against when the controller takes none.
DEFAULT_WINDOW = 4.0


def controller_settings() -> tuple[dict[str, Any], list[str]]:
    """The settings file's content, and the wanted settings this controller does not take."""
    known = set(Settings.model_fields)
    settings = {
        **FAST_CONTROLLER,
        "namespace": NAMESPACE,
        "metrics_port": 0,
        "metrics_host": "127.0.0.1",
        "log_level": "info",
    }
    missing = []
    for name, value in WANTED_SETTINGS.items():
        if name in known:
            settings[name] = value
        else:
            missing.append(name)
    return settings, missing


def inactivity_window(settings: dict[str, Any]) -> float:
    for name in ("watch_inactivity_seconds", "watch_inactivity_timeout_seconds"):
        if name in settings:
            return float(settings[name])
    return DEFAULT_WINDOW


def pdb(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "minAvailable": min_available(replicas),
            "selector": {"matchLabels": {"app": name}},
        },
    }


def min_available(replicas: int) -> int:
    """One pod of a workload may be disrupted at a time.

    An integer minAvailable, kept at replicas - 1 as the workload scales, rather than
    maxUnavailable: for maxUnavailable the disruption controller takes the expected count from
    the owner's scale (pkg/controller/disruption/disruption.go, getExpectedPodCount), which the
    fake server, serving no ReplicaSets, cannot read; for an integer minAvailable both count the
    pods, so the fake refuses the same evictions as a real server.
    """
    return max(0, replicas - 1)


@dataclass
class Tenant:
    name: str
    server: FakeApiServer
    controller_port: int  # the listener the controller's kubeconfig Secret names
    workloads: dict[str, ReplicaSetAgent] = field(default_factory=dict)

    @property
    def vm_namespace(self) -> str:
        return f"{self.name}-vms"

    def desired(self) -> dict[str, int]:
        return {name: agent.replicas for name, agent in self.workloads.items()}

    def scale(self, workload: str, replicas: int) -> None:
        budget = {"spec": {"minAvailable": min_available(replicas)}}
        patch(self.server, PDBS, workload, budget, "default")
        self.workloads[workload].scale(replicas)


class Controller:
    """``kubevirt-autoscaler run`` as a child process, started, killed and restarted."""

    def __init__(self, kubeconfig: Path, settings: Path, log_file: Path) -> None:
        self.kubeconfig = kubeconfig
        self.settings = settings
        self.log_file = log_file
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self.kills = 0
        self.closed = False
        self._log: TextIO | None = None

    async def start(self) -> None:
        if self.closed:
            return  # the world is going away; a late restart must not outlive it
        if self._log is not None:
            self._log.close()
        self._log = self.log_file.open("a")
        self._log.write(f"--- start {self.starts + 1}\n")
        self._log.flush()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "autoscaler",
            "run",
            "--kubeconfig",
            str(self.kubeconfig),
            "--config",
            str(self.settings),
            # Also given as flags: an unset flag must not hide the file's value, and
            # a fixed metrics port would collide with any other process on the machine.
            "--namespace",
            NAMESPACE,
            "--metrics-port",
            "0",
            "--leader-elect",
            stdout=self._log,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.starts += 1

    @property
    def pid(self) -> int | None:
        if self.process is None or self.process.returncode is not None:
            return None
        return self.process.pid

    def kill(self) -> bool:
        """SIGKILL now (synchronous, so that a request hook can kill at an exact request)."""
        pid = self.pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        self.kills += 1
        return True

    async def wait_dead(self) -> None:
        if self.process is not None:
            await self.process.wait()

    async def stop(self) -> None:
        self.closed = True
        process = self.process
        if process is not None and process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class FaultWorld:
    management: FakeApiServer
    management_port: int
    tenants: dict[str, Tenant]
    controller: Controller
    window: float  # the watch inactivity window the controller runs with
    missing_settings: list[str]

    def tenant_of_vm_namespace(self, namespace: str | None) -> Tenant | None:
        return next((t for t in self.tenants.values() if t.vm_namespace == namespace), None)

    def servers(self) -> list[tuple[FakeApiServer, int]]:
        """Every server with the port the controller uses on it."""
        return [(self.management, self.management_port)] + [
            (t.server, t.controller_port) for t in self.tenants.values()
        ]

    def tenant_connected(self, name: str) -> bool | None:
        for tc in items(self.management, "tenantclusters.autoscaling.kvpool.io", NAMESPACE):
            if tc["metadata"]["name"] != name:
                continue
            for condition in (tc.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "Connected":
                    return bool(condition.get("status") == "True")
        return None


async def _server(stack: AsyncExitStack, crds: list[Path], seed: int) -> tuple[FakeApiServer, int]:
    server = await stack.enter_async_context(
        FakeApiServer(crds=crds, bookmark_interval=0.2, seed=seed)
    )
    return server, await server.open_listener()


async def _client(server: FakeApiServer, stack: AsyncExitStack) -> ApiClient:
    api = await config.new_client_from_config_dict(server.kubeconfig())
    stack.push_async_callback(api.close)
    return api


@asynccontextmanager
async def fault_world(
    workdir: Path, seed: int, workloads: dict[str, dict[str, int]]
) -> AsyncIterator[FaultWorld]:
    """``workloads`` maps each tenant to its replicated workloads and their first sizes; each
    workload has a PodDisruptionBudget of maxUnavailable 1."""
    timing = KubevirtTiming(
        data_volume=0.05, schedule=0.05, boot=0.2, register=0.05, ready=0.05, delete=0.1
    )
    async with AsyncExitStack() as stack:
        management, management_port = await _server(stack, [PROJECT_CRDS, KUBEVIRT_CRDS], seed)
        put(management, "namespaces", {"metadata": {"name": NAMESPACE}})
        for index in range(2):
            put(management, "nodes", host(f"host-{index}"))
        management_api = await _client(management, stack)
        tenants: dict[str, Tenant] = {}
        for offset, (name, sizes) in enumerate(workloads.items()):
            server, port = await _server(stack, [PROJECT_CRDS], seed + offset + 1)
            tenant = Tenant(name, server, port)
            tenants[name] = tenant
            put(management, "namespaces", {"metadata": {"name": tenant.vm_namespace}})
            put(management, "secrets", kubeconfig_secret(name, server.kubeconfig(port=port)))
            # The first tenant boots from a cloned DataVolume, so that leaked volumes show.
            images = [GOLDEN_IMAGE] if offset == 0 else [CONTAINER_DISK_IMAGE]
            put(
                management,
                "tenantclusters.autoscaling.kvpool.io",
                tenant_cluster(name, images=images),
            )
            put(
                server,
                "nodepools.autoscaling.kvpool.io",
                nodepool(POOL, cpu=POOL_CPU, memory=POOL_MEMORY, scale_down_unneeded_time=UNNEEDED),
            )
            tenant_api = await _client(server, stack)
            agent_config = KubevirtAgentConfig(
                namespace=tenant.vm_namespace, timing=timing, seed=seed
            )
            await stack.enter_async_context(KubevirtAgent(management_api, tenant_api, agent_config))
            await stack.enter_async_context(
                SchedulerAgent(tenant_api, SchedulerConfig(retry_seconds=0.2))
            )
            for workload, replicas in sizes.items():
                put(server, PDBS, pdb(workload, replicas), "default")
                template = workload_pod_template(workload, POD_CPU, POD_MEMORY)
                agent = ReplicaSetAgent(tenant_api, "default", workload, replicas, template)
                tenant.workloads[workload] = await stack.enter_async_context(agent)

        settings, missing = controller_settings()
        settings_file = workdir / "settings.yaml"
        settings_file.write_text(yaml.safe_dump(settings))
        kubeconfig = workdir / "management.yaml"
        write_kubeconfig(kubeconfig, f"http://127.0.0.1:{management_port}")
        controller = Controller(kubeconfig, settings_file, workdir / "controller.log")
        stack.push_async_callback(controller.stop)
        world = FaultWorld(
            management,
            management_port,
            tenants,
            controller,
            inactivity_window(settings),
            missing,
        )
        try:
            yield world
        finally:
            for server, _ in world.servers():
                server.faults.clear()
            with contextlib.suppress(Exception):
                await controller.stop()
