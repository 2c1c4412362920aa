"""The two worlds the suite runs in: self-started fake API servers and agents, or real clusters.

Both give the test the same :class:`World`: clients of the management and tenant clusters, what
to register, how to run a workload, how long to wait and how to run the controller locally.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, AppsV1Api, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException
from kvpool_e2e import RealClusters
from kvpool_e2e_kube import MERGE_PATCH, PYTHON, process
from kvpool_e2e_manifests import Registration, deployment, workload_pod_template

from autoscaler.rawjson import call_json
from testbed.agents.replicaset import ReplicaSetAgent

FAKE_SERVERS = "fake-servers"
REAL_CLUSTERS = "real-clusters"
NAMESPACE = "kvpool-system"
WORKLOAD_NAMESPACE = "default"
# The names e2e/scripts/register-tenant.sh gives the real tenant.
REAL_TENANT, REAL_VM_NAMESPACE, REAL_SECRET = "e2e", "e2e-vms", "e2e-kubeconfig"
WORKER_IMAGE_VARIABLE = "KVPOOL_E2E_WORKER_IMAGE"

AGENT_FLAGS = (
    "--schedule-seconds=0.05",
    "--boot-seconds=0.1",
    "--register-seconds=0.05",
    "--ready-seconds=0.05",
    "--delete-seconds=0.05",
    "--scheduler-retry-seconds=0.2",
    "--log-level=WARNING",
)
FAST_CONTROLLER = {
    "leader_elect": True,
    "lease_duration_seconds": 4,
    "renew_deadline_seconds": 3,
    "retry_period_seconds": 0.5,
    "batch_idle_seconds": 0.1,
    "batch_max_seconds": 0.5,
    "scan_interval_seconds": 0.3,
    "host_refresh_seconds": 0.2,
    "tenant_resync_seconds": 1,
    "garbage_interval_seconds": 1,
    "watch_backoff_max_seconds": 0.5,
    "core": {
        "scale_down_validation_delay": 0.3,
        "drain_retry_interval": 0.5,
        "delete_delay_after_drain": 0.1,
        "scale_down_cooldown_after_scale_up": 0,
    },
}


class Workload(Protocol):
    """Replicated pods labelled ``app=<name>`` that the test scales."""

    name: str
    namespace: str

    async def scale(self, replicas: int) -> None: ...


WorkloadFactory = Callable[[str, int, str, str], AbstractAsyncContextManager[Workload]]


@dataclass(frozen=True)
class Timeouts:
    pending: float  # workload created until every pod is marked Unschedulable
    scale_up: float  # controller started until every pod runs
    scale_down: float  # workload at zero until every VM and Node is gone
    command: float  # one `plan` run, or the controller's exit after SIGTERM


@dataclass
class World:
    variant: str
    management_kubeconfig: Path
    tenant_kubeconfig: Path
    management: ApiClient
    tenant: ApiClient
    registration: Registration
    timeouts: Timeouts
    workload: WorkloadFactory
    controller_settings: dict[str, Any]
    # Real clusters run the installed controller too; the local one then stands by for the Lease.
    controller_in_cluster: bool
    # The kubeconfig for the tenant Secret; None when the Secret exists already.
    tenant_kubeconfig_for_secret: bytes | None = None


class ReplicaSetWorkload:
    """The fake variant's Deployment: the agents' replicaset keeper, in the test's process."""

    def __init__(self, agent: ReplicaSetAgent) -> None:
        self.agent = agent
        self.name = agent.name
        self.namespace = agent.namespace

    async def scale(self, replicas: int) -> None:
        self.agent.scale(replicas)


class DeploymentWorkload:
    def __init__(self, apps: AppsV1Api, name: str, namespace: str) -> None:
        self.apps = apps
        self.name = name
        self.namespace = namespace

    async def scale(self, replicas: int) -> None:
        await call_json(
            self.apps.patch_namespaced_deployment_scale,
            self.name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            _content_type=MERGE_PATCH,
        )


def replicaset_factory(tenant_kubeconfig: Path) -> WorkloadFactory:
    @asynccontextmanager
    async def start(name: str, replicas: int, cpu: str, memory: str) -> AsyncIterator[Workload]:
        template = workload_pod_template(name, cpu, memory)
        agent = ReplicaSetAgent(
            str(tenant_kubeconfig), WORKLOAD_NAMESPACE, name, replicas, template
        )
        async with agent:
            yield ReplicaSetWorkload(agent)

    return start


def deployment_factory(tenant: ApiClient) -> WorkloadFactory:
    @asynccontextmanager
    async def start(name: str, replicas: int, cpu: str, memory: str) -> AsyncIterator[Workload]:
        apps = AppsV1Api(tenant)
        body = deployment(
            name, WORKLOAD_NAMESPACE, replicas, workload_pod_template(name, cpu, memory)
        )
        await call_json(apps.create_namespaced_deployment, WORKLOAD_NAMESPACE, body)
        try:
            yield DeploymentWorkload(apps, name, WORKLOAD_NAMESPACE)
        finally:
            try:
                await call_json(apps.delete_namespaced_deployment, name, WORKLOAD_NAMESPACE)
            except ApiException as error:
                if error.status != 404:
                    raise

    return start


async def _api_server(stack: AsyncExitStack, kubeconfig: Path) -> ApiClient:
    await stack.enter_async_context(
        process(
            PYTHON,
            "-m",
            "testbed.apiserver",
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


async def _add_bare_metal_host(management: ApiClient) -> None:
    await call_json(
        CoreV1Api(management).create_node,
        {
            "metadata": {
                "name": "host-a",
                "labels": {
                    "kubevirt.io/schedulable": "true",
                    "topology.kubernetes.io/zone": "zone-a",
                    "topology.kubernetes.io/region": "region-1",
                },
            },
            "status": {
                "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "250"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    )


@asynccontextmanager
async def fake_world(workdir: Path) -> AsyncIterator[World]:
    """Two fake API servers and the agents, each its own process, with delays of milliseconds."""
    async with AsyncExitStack() as stack:
        management_file, tenant_file = workdir / "management.yaml", workdir / "tenant.yaml"
        management = await _api_server(stack, management_file)
        tenant = await _api_server(stack, tenant_file)
        await _add_bare_metal_host(management)
        await stack.enter_async_context(
            process(
                PYTHON,
                "-m",
                "testbed.agents",
                "--management",
                str(management_file),
                "--tenant",
                str(tenant_file),
                *AGENT_FLAGS,
                ready="agents ready",
            )
        )
        registration = Registration(
            namespace=NAMESPACE,
            tenant="team-a",
            vm_namespace="team-a-vms",
            kubeconfig_secret="team-a-kubeconfig",
            image_name="k8s-1.31",
            container_disk="registry.example/k8s-worker:v1.31.2",
            api_server_endpoint="https://team-a.example:6443",
            scale_down_unneeded_time="1s",
        )
        yield World(
            variant=FAKE_SERVERS,
            management_kubeconfig=management_file,
            tenant_kubeconfig=tenant_file,
            management=management,
            tenant=tenant,
            registration=registration,
            timeouts=Timeouts(pending=15, scale_up=30, scale_down=30, command=30),
            workload=replicaset_factory(tenant_file),
            controller_settings={
                **FAST_CONTROLLER,
                "namespace": NAMESPACE,
                "metrics_port": 0,
                "metrics_host": "127.0.0.1",
            },
            controller_in_cluster=False,
            tenant_kubeconfig_for_secret=tenant_file.read_bytes(),
        )


async def _tenant_server(management: ApiClient) -> str:
    """The tenant API server as the management cluster reaches it, from the registered Secret."""
    try:
        secret = await call_json(
            CoreV1Api(management).read_namespaced_secret, REAL_SECRET, NAMESPACE
        )
    except ApiException as error:
        if error.status == 404:
            raise AssertionError(
                f"Secret {NAMESPACE}/{REAL_SECRET} is missing from the management cluster: "
                "run e2e/scripts/register-tenant.sh first"
            ) from None
        raise
    try:
        kubeconfig = yaml.safe_load(base64.b64decode(secret["data"]["value"]))
        server = str(kubeconfig["clusters"][0]["cluster"]["server"])
    except (KeyError, IndexError, TypeError, ValueError, yaml.YAMLError) as error:
        raise AssertionError(
            f"Secret {NAMESPACE}/{REAL_SECRET} holds no usable kubeconfig under 'value': {error!r}"
        ) from None
    return server


@asynccontextmanager
async def real_world(clusters: RealClusters) -> AsyncIterator[World]:
    """The clusters of e2e/scripts/up.sh, with the autoscaler installed by Helm."""
    async with AsyncExitStack() as stack:
        management = await config.new_client_from_config(str(clusters.management_kubeconfig))
        stack.push_async_callback(management.close)
        tenant = await config.new_client_from_config(str(clusters.tenant_kubeconfig))
        stack.push_async_callback(tenant.close)
        registration = Registration(
            namespace=NAMESPACE,
            tenant=REAL_TENANT,
            vm_namespace=REAL_VM_NAMESPACE,
            kubeconfig_secret=REAL_SECRET,
            image_name="worker",
            container_disk=os.environ.get(WORKER_IMAGE_VARIABLE) or "k8s-worker:v1.31",
            api_server_endpoint=await _tenant_server(management),
            scale_down_unneeded_time="30s",
        )
        yield World(
            variant=REAL_CLUSTERS,
            management_kubeconfig=clusters.management_kubeconfig,
            tenant_kubeconfig=clusters.tenant_kubeconfig,
            management=management,
            tenant=tenant,
            registration=registration,
            # Emulated VMs boot in minutes.
            timeouts=Timeouts(pending=120, scale_up=900, scale_down=600, command=120),
            workload=deployment_factory(tenant),
            controller_settings={
                "namespace": NAMESPACE,
                "leader_elect": True,
                "metrics_port": 0,
                "metrics_host": "127.0.0.1",
            },
            controller_in_cluster=True,
        )
