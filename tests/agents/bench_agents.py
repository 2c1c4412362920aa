"""Benchmark (prints figures, asserts nothing): how fast the agents turn VMs into Ready Nodes
and bind pods, against fake API servers over HTTP with every delay at zero.

.venv/bin/python tests/agents/bench_agents.py [vms] [pods]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from agents_helpers import host_node, pod, ready_node, worker_vm
from kubernetes_asyncio import client, config

from autoscaler.rawjson import call_json
from testbed.agents import (
    KubevirtAgent,
    KubevirtAgentConfig,
    KubevirtTiming,
    SchedulerAgent,
    SchedulerConfig,
)
from testbed.apiserver import FakeApiServer
from testbed.apiserver.crds import KUBEVIRT_CRDS

CRDS = KUBEVIRT_CRDS
ZERO = KubevirtTiming(0, 0, 0, 0, 0, 0, unschedulable_retry=1.0)


async def until_count(probe: Callable[[], Awaitable[int]], count: int) -> None:
    while True:
        if await probe() >= count:
            return
        await asyncio.sleep(0.05)


async def bench_vms(count: int) -> None:
    crds = [
        CRDS / f"{n}-crd.yaml"
        for n in ("kubevirt-virtualmachine", "kubevirt-virtualmachineinstance", "cdi-datavolume")
    ]
    async with FakeApiServer(crds=crds) as management_server, FakeApiServer() as tenant_server:
        management_server.registry.create(
            management_server.registry.find("namespaces"), None, {"metadata": {"name": "vms"}}
        )
        management = await config.new_client_from_config_dict(management_server.kubeconfig())
        tenant = await config.new_client_from_config_dict(tenant_server.kubeconfig())
        async with management, tenant:
            core, custom = client.CoreV1Api(management), client.CustomObjectsApi(management)
            for index in range(count // 8 + 1):
                await call_json(core.create_node, host_node(f"host-{index:03d}", "64", "256Gi"))
            vms = [worker_vm(f"vm-{index:04d}") for index in range(count)]
            for _, secret in vms:
                await call_json(core.create_namespaced_secret, "vms", secret)
            async with KubevirtAgent(management, tenant, KubevirtAgentConfig(timing=ZERO)):
                started = time.perf_counter()
                await asyncio.gather(
                    *(
                        call_json(
                            custom.create_namespaced_custom_object,
                            "kubevirt.io",
                            "v1",
                            "vms",
                            "virtualmachines",
                            vm,
                        )
                        for vm, _ in vms
                    )
                )
                tenant_core = client.CoreV1Api(tenant)

                async def ready() -> int:
                    listed = await call_json(tenant_core.list_node)
                    return sum(
                        1
                        for node in listed["items"]
                        for c in node["status"]["conditions"]
                        if c["type"] == "Ready" and c["status"] == "True"
                    )

                await until_count(ready, count)
                elapsed = time.perf_counter() - started
    print(f"kubevirt agent: {count} VMs to Ready Nodes in {elapsed:.2f}s ({count / elapsed:.0f}/s)")


async def bench_pods(count: int) -> None:
    async with FakeApiServer() as server:
        api = await config.new_client_from_config_dict(server.kubeconfig())
        async with api:
            core = client.CoreV1Api(api)
            for index in range(count // 20 + 1):
                await call_json(core.create_node, ready_node(f"node-{index:03d}", "16", "64Gi"))
            async with SchedulerAgent(api, SchedulerConfig(retry_seconds=1.0)) as scheduler:
                started = time.perf_counter()
                for index in range(count):
                    await call_json(core.create_namespaced_pod, "default", pod(f"p-{index:05d}"))
                created = time.perf_counter() - started

                async def running() -> int:
                    listed = await call_json(
                        core.list_namespaced_pod, "default", field_selector="status.phase=Running"
                    )
                    return len(listed["items"])

                await until_count(running, count)
                elapsed = time.perf_counter() - started
    print(
        f"scheduler agent: {count} pods created in {created:.2f}s, all bound and Running after "
        f"{elapsed:.2f}s in {scheduler.passes} passes"
    )


async def main(vms: int, pods: int) -> None:
    await bench_vms(vms)
    await bench_pods(pods)


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [200, 2000][len(arguments) :])))
