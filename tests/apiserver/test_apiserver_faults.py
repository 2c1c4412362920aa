"""Fault injection, switched at runtime, seen through the real client."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable

import aiohttp
import pytest
from apiserver_helpers import pod_body
from kubernetes_asyncio import client, config, watch

from testbed.apiserver import RESET, FakeApiServer, FaultInjector, RequestInfo


async def _until(check: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


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


async def test_a_reset_connection_gives_the_client_no_answer(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    fault = server.faults.error_rate(1.0, kinds=[RESET], verb="list")[0]
    with pytest.raises(aiohttp.ClientError):
        await core.list_namespaced_pod("default")
    server.faults.remove(fault)
    await core.list_namespaced_pod("default")
    # The client may retry a reset request once on a fresh connection; each attempt was reset.
    codes = [entry.code for entry in server.audit if entry.verb == "list"]
    assert codes[-1] == 200 and set(codes[:-1]) == {0}, codes


async def test_a_hung_request_is_never_answered_until_the_client_gives_up(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    fault = server.faults.hang(verb="get")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await core.read_namespace("default")
    server.faults.remove(fault)
    await core.read_namespace("default")
    assert fault.hits == 1


async def test_a_silenced_watch_sends_nothing_until_the_fault_goes(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    listed = await core.list_namespaced_pod("default")
    seen: list[str] = []

    async def follow() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                core.list_namespaced_pod,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=5,
            ):
                seen.append(event["raw_object"]["metadata"]["name"])
                if len(seen) == 2:
                    return

    task = asyncio.create_task(follow())
    await core.create_namespaced_pod("default", pod_body("before"))
    await _until(lambda: seen == ["before"])
    fault = server.faults.silence_watches(resource="pods")
    await core.create_namespaced_pod("default", pod_body("during"))
    await asyncio.sleep(0.3)  # several bookmark intervals: nothing may arrive
    assert seen == ["before"]
    server.faults.remove(fault)
    await asyncio.wait_for(task, 5)
    assert seen == ["before", "during"]


async def test_faults_can_match_one_listener_only(server: FakeApiServer) -> None:
    port = await server.open_listener()
    server.faults.fail(status=503, times=None, port=port)
    async with (
        await config.new_client_from_config_dict(server.kubeconfig()) as clean,
        await config.new_client_from_config_dict(server.kubeconfig(port=port)) as faulty,
    ):
        await client.CoreV1Api(clean).list_namespace()
        with pytest.raises(client.ApiException) as raised:
            await client.CoreV1Api(faulty).list_namespace()
    assert raised.value.status == 503
    assert [(e.port == port, e.code) for e in server.audit] == [(False, 200), (True, 503)]


async def test_hooks_see_a_request_before_it_is_served_and_its_answer(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    seen: list[tuple[str, str, bool]] = []

    def before(info: RequestInfo) -> None:
        present = server.registry.store.tables["pods"].get("default", "p") is not None
        seen.append((info.verb, info.name, present))

    server.request_hooks.append(before)
    server.response_hooks.append(lambda entry: seen.append((entry.verb, str(entry.code), False)))
    await core.delete_namespaced_pod("p", "default", grace_period_seconds=0)
    assert seen == [("delete", "p", True), ("delete", "200", False)]


def test_an_error_rate_fails_its_share_split_among_the_kinds() -> None:
    faults = FaultInjector(seed=7)
    faults.error_rate(0.3, kinds=(500, 429, RESET))
    outcomes: Counter[str] = Counter()
    for _ in range(30_000):
        plan = faults.plan("get", ("pods",), "/api/v1/pods")
        outcomes["reset" if plan.reset else str(plan.error.code if plan.error else "ok")] += 1
    for kind in ("500", "429", "reset"):
        assert 0.09 < outcomes[kind] / 30_000 < 0.11, outcomes
    assert 0.68 < outcomes["ok"] / 30_000 < 0.72, outcomes


def test_a_blackhole_hangs_requests_and_silences_watches_on_its_port_only() -> None:
    faults = FaultInjector()
    faults.blackhole(port=1234)
    assert faults.plan("list", ("pods",), "/api/v1/pods", 1234).hang
    assert not faults.plan("list", ("pods",), "/api/v1/pods", 4321).hang
    assert faults.silenced(("pods",), "/api/v1/pods", 1234)
    assert not faults.silenced(("pods",), "/api/v1/pods", 4321)


async def test_open_watch_streams_can_be_ended_at_once(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    listed = await core.list_namespaced_pod("default")
    opened = asyncio.Event()

    async def follow() -> int:
        count = 0
        async with watch.Watch() as stream:
            opened.set()
            async for _ in stream.stream(
                core.list_namespaced_pod,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=30,
            ):
                count += 1
        return count

    task = asyncio.create_task(follow())
    await opened.wait()
    await _until(lambda: bool(server._streams))
    assert server.end_watches(resource="configmaps") == 0
    assert server.end_watches(resource="pods") == 1
    assert await asyncio.wait_for(task, 5) == 0


async def test_a_blackhole_holds_requests_and_serves_them_once_removed(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    faults = server.faults.blackhole()
    task = asyncio.create_task(core.read_namespace("default"))
    await asyncio.sleep(0.2)
    assert not task.done()
    server.faults.remove_all(faults)
    namespace = await asyncio.wait_for(task, 5)
    assert namespace.metadata.name == "default"
