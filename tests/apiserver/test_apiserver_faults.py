"""Fault injection, switched at runtime, seen through the real client."""

from __future__ import annotations

import pytest
from apiserver_helpers import pod_body
from kubernetes_asyncio import client, watch

from autoscaler.sim.apiserver import FakeApiServer, FaultInjector


async def test_an_error_fault_fires_the_given_number_of_times(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    fault = server.faults.fail(status=500, times=2, verb="list", resource="pods")
    for _ in range(2):
        with pytest.raises(client.ApiException) as raised:
            await core.list_namespaced_pod("default")
        assert raised.value.status == 500
    await core.list_namespaced_pod("default")
    await core.list_namespaced_config_map("default")
    assert fault.hits == 2 and fault not in server.faults.faults


async def test_throttling_sends_retry_after(server: FakeApiServer, core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    server.faults.throttle(retry_after=3, resource="pods/eviction")
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod_eviction("p", "default", {"metadata": {"name": "p"}})
    assert raised.value.status == 429
    assert raised.value.headers["Retry-After"] == "3"
    await core.read_namespaced_pod("p", "default")  # pods/eviction only, not pods


async def test_path_patterns_select_requests(server: FakeApiServer, core: client.CoreV1Api) -> None:
    server.faults.fail(status=503, times=None, path=r"/namespaces/kube-system/")
    with pytest.raises(client.ApiException) as raised:
        await core.list_namespaced_config_map("kube-system")
    assert raised.value.status == 503
    await core.list_namespaced_config_map("default")
    server.faults.clear()
    await core.list_namespaced_config_map("kube-system")


async def test_latency_delays_but_serves(server: FakeApiServer, core: client.CoreV1Api) -> None:
    fault = server.faults.delay(0.05, verb="get", times=1)
    await core.create_namespaced_pod("default", pod_body("p"))
    pod = await core.read_namespaced_pod("p", "default")
    assert pod.metadata.name == "p" and fault.hits == 1


async def test_watch_streams_drop_after_some_events(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    for index in range(5):
        await core.create_namespaced_pod("default", pod_body(f"p{index}"))
    server.faults.drop_watches(after_events=2, times=1, resource="pods")
    async with watch.Watch() as stream:
        first = [
            event["raw_object"]["metadata"]["name"]
            async for event in stream.stream(
                core.list_namespaced_pod, "default", resource_version="0", timeout_seconds=5
            )
        ]
        assert first == ["p0", "p1"]
        # The stream ended early: resuming from the last version sees the rest.
        rest = []
        async for event in stream.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=stream.resource_version,
            timeout_seconds=1,
        ):
            rest.append(event["raw_object"]["metadata"]["name"])
    assert rest == ["p2", "p3", "p4"]


async def test_the_next_watch_can_be_forced_to_expire(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    listed = await core.list_namespaced_pod("default")
    server.faults.expire_watches(resource="pods")
    async with watch.Watch() as stream:
        with pytest.raises(client.ApiException) as raised:
            async for _ in stream.stream(
                core.list_namespaced_pod,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=1,
            ):
                pass
    assert raised.value.status == 410
    assert server.faults.faults == []


def test_watch_faults_never_touch_other_verbs() -> None:
    faults = FaultInjector()
    faults.drop_watches(after_events=0)
    faults.expire_watches(times=None)
    plan = faults.plan("list", ("pods",), "/api/v1/pods")
    assert plan.drop_after is None and not plan.expire and plan.error is None
    watch_plan = faults.plan("watch", ("pods",), "/api/v1/pods")
    assert watch_plan.drop_after == 0 and watch_plan.expire


def test_one_error_per_request_and_the_next_waits() -> None:
    faults = FaultInjector()
    faults.fail(status=500, times=1)
    faults.fail(status=503, times=1)
    codes = []
    for _ in range(3):
        error = faults.plan("get", ("pods",), "/api/v1/pods").error
        codes.append(error.code if error else None)
    assert codes == [500, 503, None]
