"""The scheduler and replicaset agents against a fake API server over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from agents_helpers import condition, pod, ready_node, until
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from autoscaler.kube.convert import pod_from_dict
from autoscaler.rawjson import call_json
from testbed.agents import ReplicaSetAgent, SchedulerAgent, SchedulerConfig
from testbed.apiserver import FakeApiServer

FAST = SchedulerConfig(retry_seconds=0.2, batch_seconds=0.01)


@pytest.fixture
def core(tenant: ApiClient) -> CoreV1Api:
    return CoreV1Api(tenant)


@pytest.fixture
async def scheduler(tenant: ApiClient) -> AsyncIterator[SchedulerAgent]:
    async with SchedulerAgent(tenant, FAST) as running:
        yield running


async def read(core: CoreV1Api, name: str, namespace: str = "default") -> Any:
    try:
        return await call_json(core.read_namespaced_pod, name, namespace)
    except Exception as error:
        if getattr(error, "status", None) == 404:
            return None
        raise


def probe_running(core: CoreV1Api, name: str) -> Any:
    async def probe() -> Any:
        found = await read(core, name)
        ready = condition(found, "Ready")
        running = found and found["status"].get("phase") == "Running"
        return found if running and ready and ready["status"] == "True" else None

    return probe


def probe_unschedulable(core: CoreV1Api, name: str, containing: str = "") -> Any:
    async def probe() -> Any:
        found = condition(await read(core, name), "PodScheduled")
        if found and found.get("reason") == "Unschedulable" and containing in found["message"]:
            return found
        return None

    return probe


async def test_pods_that_fit_are_bound_and_started_the_others_marked_unschedulable(
    core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("n1", cpu="4", memory="8Gi"))
    for name, cpu in (("a", "1"), ("b", "1"), ("big", "8")):
        await call_json(core.create_namespaced_pod, "default", pod(name, cpu=cpu))

    a = await until(probe_running(core, "a"))
    b = await until(probe_running(core, "b"))
    assert a["spec"]["nodeName"] == b["spec"]["nodeName"] == "n1"
    found = await until(probe_unschedulable(core, "big"))
    assert found["status"] == "False"
    assert found["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    big = pod_from_dict(await read(core, "big"))
    assert big.unschedulable and big.unschedulable_since is not None
    assert big.node_name is None


async def test_unschedulable_pod_is_bound_once_a_node_with_room_appears(
    core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("small", cpu="2"))
    await call_json(core.create_namespaced_pod, "default", pod("big", cpu="6"))
    before = await until(probe_unschedulable(core, "big"))

    await call_json(core.create_node, ready_node("large", cpu="8", memory="16Gi"))

    started = await until(probe_running(core, "big"))
    assert started["spec"]["nodeName"] == "large"
    scheduled = condition(started, "PodScheduled")
    assert scheduled is not None and scheduled["status"] == "True"
    assert before["status"] == "False"


async def test_message_counts_not_ready_cordoned_selector_and_taint_reasons(
    core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("booting", ready=False))
    await call_json(core.create_node, ready_node("cordoned", unschedulable=True))
    await call_json(core.create_node, ready_node("other", labels={"disk": "hdd"}))
    taint = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    await call_json(core.create_node, ready_node("tainted", labels={"disk": "ssd"}, taints=[taint]))
    await call_json(
        core.create_namespaced_pod, "default", pod("picky", nodeSelector={"disk": "ssd"})
    )

    found = await until(probe_unschedulable(core, "picky", "4 nodes"))

    assert found["message"] == (
        "0/4 nodes are available: 1 node(s) didn't match node selector, "
        "1 node(s) had untolerated taint {gpu: true}, "
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
        "1 node(s) were unschedulable."
    )


async def test_pods_of_another_scheduler_are_left_alone(
    core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("n1"))
    await call_json(
        core.create_namespaced_pod, "default", pod("custom", schedulerName="other-scheduler")
    )
    await call_json(core.create_namespaced_pod, "default", pod("mine"))
    await until(probe_running(core, "mine"))
    passes = scheduler.passes
    await until(lambda: _later(scheduler, passes + 2))

    custom = await read(core, "custom")
    assert custom["spec"].get("nodeName") is None
    assert condition(custom, "PodScheduled") is None


async def _later(scheduler: SchedulerAgent, passes: int) -> bool:
    return scheduler.passes >= passes


async def test_pods_of_a_deleted_node_are_deleted(
    core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("doomed"))
    await call_json(core.create_namespaced_pod, "default", pod("victim"))
    await until(probe_running(core, "victim"))

    await call_json(core.delete_node, "doomed")

    async def gone() -> bool:
        return await read(core, "victim") is None

    await until(gone)


async def test_replicaset_recreates_an_evicted_pod_which_is_then_scheduled(
    core: CoreV1Api, tenant: ApiClient, scheduler: SchedulerAgent
) -> None:
    await call_json(core.create_node, ready_node("n1", cpu="8", memory="16Gi"))
    template = pod("unused", labels={"app": "web"})
    async with ReplicaSetAgent(tenant, "default", "web", 2, template, seed=3) as replicaset:

        async def running_pods() -> list[str] | None:
            listed = await call_json(core.list_namespaced_pod, "default", label_selector="app=web")
            names = [
                item["metadata"]["name"]
                for item in listed["items"]
                if item["status"].get("phase") == "Running"
            ]
            return sorted(names) if len(names) == 2 else None

        first = await until(running_pods)
        victim = first[0]
        owner = (await read(core, victim))["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("ReplicaSet", "web", True)
        assert pod_from_dict(await read(core, victim)).owner_kind == "ReplicaSet"

        eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim}}
        await call_json(core.create_namespaced_pod_eviction, victim, "default", eviction)

        async def replaced() -> list[str] | None:
            names = await running_pods()
            return names if names and victim not in names else None

        second = await until(replaced)
        assert first[1] in second
        assert replicaset.created == 3

        replicaset.scale(1)

        async def scaled_down() -> bool:
            listed = await call_json(core.list_namespaced_pod, "default", label_selector="app=web")
            return len(listed["items"]) == 1

        await until(scaled_down)


async def test_failed_bindings_and_status_writes_are_retried(
    tenant_server: FakeApiServer, core: CoreV1Api, scheduler: SchedulerAgent
) -> None:
    tenant_server.faults.fail(status=500, times=2, verb="create", resource="pods/binding")
    tenant_server.faults.throttle(retry_after=0.01, times=2, verb="patch", resource="pods/status")
    await call_json(core.create_node, ready_node("n1"))
    await call_json(core.create_namespaced_pod, "default", pod("persistent"))

    started = await until(probe_running(core, "persistent"))

    assert started["spec"]["nodeName"] == "n1"
    codes = [entry.code for entry in tenant_server.audit if entry.resource == "pods/binding"]
    assert codes == [500, 500, 201]
