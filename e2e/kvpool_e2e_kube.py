"""Small tools of the e2e suite: polling, child processes, the CLI and idempotent applies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.rawjson import call_json

T = TypeVar("T")
JsonDict = dict[str, Any]
GROUP, VERSION = "autoscaling.kvpool.io", "v1alpha1"
KUBEVIRT_GROUP, KUBEVIRT_VERSION = "kubevirt.io", "v1"
PYTHON = sys.executable
MERGE_PATCH = "application/merge-patch+json"


async def until(
    probe: Callable[[], Awaitable[T | None]], within: float, what: str, interval: float = 0.1
) -> T:
    """The first truthy result of ``probe``; AssertionError naming ``what`` after ``within`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"{what}: not within {within:g}s")
        await asyncio.sleep(interval)


def child_environment() -> dict[str, str]:
    # The children must never see the suite's own cluster variables.
    return {name: value for name, value in os.environ.items() if not name.startswith("KVPOOL_")}


@asynccontextmanager
async def process(
    *args: str, ready: str | None = None, ready_within: float = 30.0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A child process, stopped with SIGTERM (then SIGKILL) on exit.

    With ``ready`` the first line of its stdout must contain that text.
    """
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=child_environment(),
    )
    try:
        if ready is not None:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), ready_within)
            assert ready in line.decode(), f"{args[:3]} printed {line!r}, not {ready!r}"
        yield proc
    finally:
        await stop(proc)


async def stop(proc: asyncio.subprocess.Process, within: float = 10.0) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), within)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


async def plan_json(management_kubeconfig: Path, namespace: str, within: float) -> JsonDict:
    """``kubevirt-autoscaler plan --json`` against the management cluster, parsed."""
    plan = await asyncio.create_subprocess_exec(
        PYTHON,
        "-m",
        "autoscaler",
        "plan",
        "--kubeconfig",
        str(management_kubeconfig),
        "--namespace",
        namespace,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_environment(),
    )
    out, err = await asyncio.wait_for(plan.communicate(), within)
    assert plan.returncode == 0, f"plan exited {plan.returncode}: {err.decode()[-2000:]}"
    parsed = json.loads(out)
    assert isinstance(parsed, dict), out
    return parsed


async def apply_namespace(management: ApiClient, name: str) -> None:
    try:
        await call_json(CoreV1Api(management).create_namespace, {"metadata": {"name": name}})
    except ApiException as error:
        if error.status != 409:
            raise


async def apply_custom_object(
    client: ApiClient, plural: str, body: Mapping[str, Any], namespace: str | None = None
) -> None:
    """Create the custom object, or merge-patch it when it exists; unknown fields fail."""
    api = CustomObjectsApi(client)
    name = body["metadata"]["name"]
    where = (namespace,) if namespace else ()
    create = api.create_namespaced_custom_object if namespace else api.create_cluster_custom_object
    try:
        await call_json(create, GROUP, VERSION, *where, plural, body, field_validation="Strict")
        return
    except ApiException as error:
        if error.status != 409:
            raise
    patch = api.patch_namespaced_custom_object if namespace else api.patch_cluster_custom_object
    await call_json(
        patch,
        GROUP,
        VERSION,
        *where,
        plural,
        name,
        dict(body),
        field_validation="Strict",
        _content_type=MERGE_PATCH,
    )


async def list_vms(management: ApiClient, namespace: str, selector: str) -> list[JsonDict]:
    listing = await call_json(
        CustomObjectsApi(management).list_namespaced_custom_object,
        KUBEVIRT_GROUP,
        KUBEVIRT_VERSION,
        namespace,
        "virtualmachines",
        label_selector=selector,
    )
    return list(listing["items"])


def is_ready(node: JsonDict) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def is_unschedulable(pod: JsonDict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(
        c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions
    )


def is_cordoned(node: JsonDict) -> bool:
    return bool((node.get("spec") or {}).get("unschedulable"))
