"""``python -m testbed.agents`` as its own process, as the e2e tests run it."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from agents_helpers import condition, host_node, until, worker_vm
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from autoscaler.rawjson import call_json
from testbed.apiserver import FakeApiServer
from testbed.kubeconfig import write_kubeconfig

FAST_FLAGS = [
    "--schedule-seconds=0.02",
    "--boot-seconds=0.05",
    "--register-seconds=0.02",
    "--ready-seconds=0.02",
    "--log-level=WARNING",
]


async def test_agents_process_turns_a_vm_into_a_node_and_stops_on_sigterm(
    tmp_path: Path,
    management_server: FakeApiServer,
    tenant_server: FakeApiServer,
    management: ApiClient,
    tenant: ApiClient,
) -> None:
    management_file = write_kubeconfig(tmp_path / "management", management_server.url)
    tenant_file = write_kubeconfig(tmp_path / "tenant", tenant_server.url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testbed.agents",
        "--management",
        str(management_file),
        "--tenant",
        str(tenant_file),
        *FAST_FLAGS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.decode().strip() == "agents ready"

        core = CoreV1Api(management)
        await call_json(core.create_node, host_node("host-a"))
        vm, secret = worker_vm("proc-1")
        await call_json(core.create_namespaced_secret, "vms", secret)
        await call_json(
            CustomObjectsApi(management).create_namespaced_custom_object,
            "kubevirt.io",
            "v1",
            "vms",
            "virtualmachines",
            vm,
        )
        tenant_core = CoreV1Api(tenant)

        async def ready() -> bool:
            listed = await call_json(tenant_core.list_node)
            nodes = {item["metadata"]["name"]: item for item in listed["items"]}
            found = condition(nodes.get("proc-1"), "Ready")
            return bool(found and found["status"] == "True")

        await until(ready, within=15)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    assert process.returncode == 0, stderr.decode()


async def test_agents_process_reports_an_unreadable_kubeconfig_and_exits_1(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "nowhere.kubeconfig"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testbed.agents",
        "--management",
        str(missing),
        "--tenant",
        str(missing),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == 1
    assert "error:" in stderr.decode()
    assert str(missing) in stderr.decode()
