"""List and watch through the real kubernetes_asyncio client and its Watch helper."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from apiserver_helpers import pod_body
from kubernetes_asyncio import client, watch

from testbed.apiserver import FakeApiServer


async def collect(stream: watch.Watch, count: int, *, skip_bookmarks: bool = True) -> list[Any]:
    events: list[Any] = []
    async for event in stream:
        if skip_bookmarks and event["type"] == "BOOKMARK":
            continue
        events.append(event)
        if len(events) == count:
            break
    return events


def names(events: list[Any]) -> list[tuple[str, str]]:
    return [(event["type"], event["raw_object"]["metadata"]["name"]) for event in events]


async def test_watch_resumes_from_the_list_version(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("before"))
    listed = await core.list_namespaced_pod("default")
    await core.create_namespaced_pod("default", pod_body("after"))
    await core.delete_namespaced_pod("before", "default")
    async with watch.Watch() as stream:
        events = await collect(
            stream.stream(
                core.list_namespaced_pod,
                "default",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=5,
            ),
            2,
        )
    assert names(events) == [("ADDED", "after"), ("DELETED", "before")]
    assert events[0]["object"].metadata.name == "after"  # deserialized into V1Pod
    deleted = events[1]["raw_object"]
    assert deleted["metadata"]["deletionTimestamp"]
    assert int(deleted["metadata"]["resourceVersion"]) > int(listed.metadata.resource_version)


async def test_watch_without_version_starts_with_the_current_objects(
    core: client.CoreV1Api,
) -> None:
    await core.create_namespaced_pod("default", pod_body("a"))
    async with watch.Watch() as stream:
        iterator = stream.stream(core.list_namespaced_pod, "default", timeout_seconds=5)
        first = await collect(iterator, 1)
        await core.patch_namespaced_pod("a", "default", {"metadata": {"labels": {"x": "1"}}})
        second = await collect(iterator, 1)
    assert names(first) == [("ADDED", "a")]
    assert names(second) == [("MODIFIED", "a")]
    assert second[0]["raw_object"]["metadata"]["labels"] == {"x": "1"}


async def test_bookmarks_carry_the_latest_version(core: client.CoreV1Api) -> None:
    created = await core.create_namespaced_pod("default", pod_body("a"))
    await core.create_namespaced_config_map("default", {"metadata": {"name": "other"}})
    async with watch.Watch() as stream:
        iterator = stream.stream(
            core.list_namespaced_pod,
            "default",
            resource_version=created.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        )
        event = await anext(iterator)
    assert event["type"] == "BOOKMARK"
    version = int(event["raw_object"]["metadata"]["resourceVersion"])
    assert version > int(created.metadata.resource_version)  # includes the config map's write
    assert stream.resource_version == str(version)


async def test_selectors_turn_changes_into_added_and_deleted(core: client.CoreV1Api) -> None:
    listed = await core.list_namespaced_pod("default")
    await core.create_namespaced_pod("default", pod_body("p", {"app": "db"}))
    await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "web"}}})
    await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"v": "2"}}})
    await core.patch_namespaced_pod("p", "default", {"metadata": {"labels": {"app": "db"}}})
    async with watch.Watch() as stream:
        events = await collect(
            stream.stream(
                core.list_namespaced_pod,
                "default",
                label_selector="app=web",
                resource_version=listed.metadata.resource_version,
                timeout_seconds=5,
            ),
            3,
        )
    assert names(events) == [("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p")]


async def test_a_version_older_than_the_history_is_gone(core: client.CoreV1Api) -> None:
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    old = (await core.list_namespaced_config_map("default")).metadata.resource_version
    for index in range(60):  # the fixture keeps 50 events per resource
        await core.patch_namespaced_config_map("c", "default", {"data": {"i": str(index)}})
    async with watch.Watch() as stream:
        with pytest.raises(client.ApiException) as raised:
            await collect(
                stream.stream(
                    core.list_namespaced_config_map,
                    "default",
                    resource_version=old,
                    timeout_seconds=5,
                ),
                1,
            )
    assert raised.value.status == 410
    assert "Expired" in raised.value.reason


async def test_other_resources_do_not_trim_a_history(core: client.CoreV1Api) -> None:
    await core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    version = (await core.list_namespaced_config_map("default")).metadata.resource_version
    for index in range(60):
        await core.create_namespaced_secret("default", {"metadata": {"name": f"s{index}"}})
    await core.delete_namespaced_config_map("c", "default")
    async with watch.Watch() as stream:
        events = await collect(
            stream.stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=version,
                timeout_seconds=5,
            ),
            1,
        )
    assert names(events) == [("DELETED", "c")]


async def test_the_server_ends_a_watch_after_its_timeout(core: client.CoreV1Api) -> None:
    async with watch.Watch() as stream:
        events = [
            event
            async for event in stream.stream(
                core.list_namespaced_pod, "default", resource_version="1", timeout_seconds=1
            )
        ]
    assert events == []


async def test_a_watch_follows_one_named_custom_object(
    server: FakeApiServer, custom: client.CustomObjectsApi
) -> None:
    for name in ("w1", "w2"):
        await custom.create_namespaced_custom_object(
            "example.com",
            "v1",
            "default",
            "widgets",
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": name},
                "spec": {"size": 1},
            },
        )
    async with watch.Watch() as stream:
        events = await collect(
            stream.stream(
                custom.list_namespaced_custom_object,
                "example.com",
                "v1",
                "default",
                "widgets",
                field_selector="metadata.name=w2",
                timeout_seconds=5,
            ),
            1,
        )
    assert names(events) == [("ADDED", "w2")]
    assert events[0]["object"]["spec"] == {"size": 1}


async def test_many_watchers_see_the_same_sequence(core: client.CoreV1Api) -> None:
    start = (await core.list_namespaced_pod("default")).metadata.resource_version
    for index in range(5):
        await core.create_namespaced_pod("default", pod_body(f"p{index}"))

    async def follow() -> list[tuple[str, str]]:
        async with watch.Watch() as stream:
            return names(
                await collect(
                    stream.stream(
                        core.list_namespaced_pod,
                        "default",
                        resource_version=start,
                        timeout_seconds=5,
                    ),
                    5,
                )
            )

    results = await asyncio.gather(*(follow() for _ in range(4)))
    assert all(result == [("ADDED", f"p{index}") for index in range(5)] for result in results)
