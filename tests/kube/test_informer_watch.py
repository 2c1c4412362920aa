"""The informer against a scripted server over real HTTP: paging, resume, 410, backoff."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from scripted_watch import ScriptedPods, eventually, pod, serve

from autoscaler.core.model import Pod
from autoscaler.kube import errors
from autoscaler.kube.convert import pod_from_dict
from autoscaler.kube.informer import EventType, Informer, InformerSettings

FAST = InformerSettings(
    page_size=2,
    watch_timeout_seconds=30,
    inactivity_timeout=5.0,
    backoff_base=0.01,
    backoff_max=0.05,
)


@pytest.fixture
async def world() -> AsyncIterator[tuple[ScriptedPods, ApiClient]]:
    pods = ScriptedPods()
    for name in ("a", "b", "c", "d", "e"):
        pods.put(name)
    async with serve(pods) as api:
        yield pods, api


def make_informer(api: ApiClient, settings: InformerSettings = FAST) -> Informer[Pod]:
    return Informer(
        "pods",
        CoreV1Api(api).list_pod_for_all_namespaces,
        pod_from_dict,
        cluster="tenant-a",
        settings=settings,
    )


async def started(informer: Informer[Pod]) -> Informer[Pod]:
    informer.start()
    async with asyncio.timeout(5):
        await informer.has_synced()
    return informer


def cpu_of(informer: Informer[Pod], key: str) -> int | None:
    value = informer.get(key)
    return value.requests.cpu if value else None


async def test_lists_in_pages_then_watches_from_the_list_version(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        assert sorted(p.name for p in informer.snapshot()) == ["a", "b", "c", "d", "e"]
        assert [r.get("limit") for r in pods.list_requests] == ["2", "2", "2"]
        assert [r.get("continue") for r in pods.list_requests] == [None, "2", "4"]
        await eventually(lambda: pods.watch_requests)
        assert pods.watch_requests[0]["resourceVersion"] == "105"
        assert pods.watch_requests[0]["allowWatchBookmarks"] in ("true", "True")
    finally:
        await informer.stop()


async def test_events_update_cache_version_and_handlers(world: Any) -> None:
    pods, api = world
    informer = make_informer(api)
    seen: list[tuple[EventType, str]] = []
    informer.add_handler(lambda kind, key, _: seen.append((kind, key)))
    await started(informer)
    try:
        await eventually(lambda: pods.open_streams == 1)
        version = informer.version
        pods.put("f", cpu="2")
        pods.put("a", cpu="500m")
        pods.delete("b")
        await eventually(lambda: informer.get("default/b") is None)
        assert cpu_of(informer, "default/f") == 2000
        assert cpu_of(informer, "default/a") == 500
        assert informer.version == version + 3
        assert seen[-3:] == [
            (EventType.ADDED, "default/f"),
            (EventType.MODIFIED, "default/a"),
            (EventType.DELETED, "default/b"),
        ]
        assert informer.resource_version == str(pods.version)
        # A change to a field the converted value does not keep leaves the version alone.
        snapshot = informer.snapshot()
        obj = pod("a", 0, cpu="500m")
        obj["metadata"]["annotations"] = {"irrelevant": "yes"}
        pods.put_raw(obj)
        await eventually(lambda: informer.resource_version == str(pods.version))
        assert informer.version == version + 3
        assert informer.snapshot() is snapshot
    finally:
        await informer.stop()


async def test_bookmarks_advance_the_resource_version(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        await eventually(lambda: pods.open_streams == 1)
        version = informer.version
        pods.bookmark()
        await eventually(lambda: informer.resource_version == str(pods.version))
        assert informer.version == version
    finally:
        await informer.stop()


async def test_dropped_stream_resumes_from_last_version_without_relisting(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        await eventually(lambda: pods.open_streams == 1)
        pods.put("f")
        await eventually(lambda: informer.get("default/f") is not None)
        last_seen = informer.resource_version
        pods.drop_streams()
        await eventually(lambda: len(pods.watch_requests) >= 2)
        assert pods.watch_requests[1]["resourceVersion"] == last_seen
        pods.put("g")
        pods.delete("a")
        await eventually(lambda: informer.get("default/a") is None)
        assert informer.get("default/g") is not None
        assert informer.lists == 1
    finally:
        await informer.stop()


async def test_changes_while_disconnected_are_replayed(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        await eventually(lambda: pods.open_streams == 1)
        pods.watch_failures = [503]  # the next watch fails once, then resumes
        pods.drop_streams()
        pods.put("h")
        await eventually(lambda: informer.get("default/h") is not None)
        assert informer.lists == 1
    finally:
        await informer.stop()


async def test_gone_as_watch_status_relists_and_replaces_cache(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    removed: list[str] = []
    informer.add_handler(lambda kind, key, _: removed.append(key) if kind == "DELETED" else None)
    try:
        await eventually(lambda: pods.open_streams == 1)
        pods.drop_streams()
        # While disconnected, changes happen and the history is compacted away.
        pods.watch_failures = [410]
        pods.delete("c")
        pods.put("z")
        pods.compact()
        await eventually(lambda: informer.lists == 2)
        assert sorted(p.name for p in informer.snapshot()) == ["a", "b", "d", "e", "z"]
        assert removed == ["default/c"]
    finally:
        await informer.stop()


async def test_gone_as_error_event_relists(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        await eventually(lambda: pods.open_streams == 1)
        pods.send_error(410)
        await eventually(lambda: informer.lists == 2)
        await eventually(lambda: pods.open_streams == 1)
        pods.put("after")
        await eventually(lambda: informer.get("default/after") is not None)
    finally:
        await informer.stop()


async def test_compacted_version_on_resume_relists(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    try:
        await eventually(lambda: pods.open_streams == 1)
        pods.watch_failures = [500]  # stay away while the changes happen
        pods.drop_streams()
        pods.put("x")
        pods.put("y")
        pods.compact()  # the informer's version is now older than the compaction
        await eventually(lambda: informer.lists == 2)
        assert informer.get("default/x") is not None
        assert informer.get("default/y") is not None
    finally:
        await informer.stop()


async def test_server_errors_back_off_and_are_reported(world: Any) -> None:
    pods, api = world
    reported: list[tuple[str, str, str]] = []
    remove = errors.add_api_error_hook(lambda *labels: reported.append(labels))
    pods.list_failures = [500, 500]
    informer = make_informer(api)
    try:
        await started(informer)
        await eventually(lambda: pods.open_streams == 1)
        pods.watch_failures = [500, 503, 500]
        pods.drop_streams()
        await eventually(lambda: pods.open_streams == 1 and len(pods.watch_requests) >= 5)
        pods.put("later")
        await eventually(lambda: informer.get("default/later") is not None)
    finally:
        remove()
        await informer.stop()
    assert reported == [
        ("tenant-a", "list", "500"),
        ("tenant-a", "list", "500"),
        ("tenant-a", "watch", "500"),
        ("tenant-a", "watch", "503"),
        ("tenant-a", "watch", "500"),
    ]
    assert informer.lists == 1  # a failed watch resumes, it does not re-list


async def test_a_quiet_stream_is_relisted_and_the_cache_stale_until_a_watch_delivers(
    world: Any,
) -> None:
    pods, api = world
    settings = InformerSettings(inactivity_timeout=0.2, backoff_base=0.01, backoff_max=0.05)
    informer = await started(make_informer(api, settings))
    try:
        assert informer.fresh
        await eventually(lambda: informer.lists >= 2)
        assert informer.silences >= 1
        assert not informer.fresh  # re-listed, but no watch has delivered since
        assert "went silent" in (informer.staleness() or "")
        # Bookmarks until one reaches an open watch: then the cache is fresh again.
        await eventually(lambda: pods.bookmark() or informer.fresh)
        assert informer.staleness() is None
    finally:
        await informer.stop()


async def test_a_watch_that_never_starts_is_abandoned_and_the_cache_relisted(world: Any) -> None:
    pods, api = world
    pods.watch_start_delay = 3600.0
    settings = InformerSettings(inactivity_timeout=0.2, backoff_base=0.01, backoff_max=0.05)
    informer = await started(make_informer(api, settings))
    try:
        await eventually(lambda: informer.lists >= 2)
        assert informer.silences >= 1 and not informer.fresh
        pods.watch_start_delay = 0.0
        await eventually(lambda: pods.bookmark() or informer.fresh)
        pods.put("after")
        await eventually(lambda: informer.get("default/after") is not None)
    finally:
        await informer.stop()


async def test_unreadable_fields_keep_the_object_and_are_logged_once(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pods, api = world
    bad = pod("bad", 0)
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "a lot"
    pods.put_raw(bad)
    caplog.set_level("WARNING", logger="autoscaler.kube.informer")
    informer = await started(make_informer(api))
    try:
        kept = informer.get("default/bad")
        assert kept is not None and len(informer) == 6
        assert kept.unmodelled[0].startswith("spec.containers[0].resources.requests.cpu: ")
        logged = [r.getMessage() for r in caplog.records if "default/bad" in r.getMessage()]
        assert len(logged) == 1 and "requests.cpu" in logged[0]
        await eventually(lambda: pods.open_streams == 1)
        pods.put("bad")  # fixed
        await eventually(lambda: (informer.get("default/bad") or kept).unmodelled == ())
        broken = pod("a", 0)
        broken["spec"]["priority"] = "urgent"
        pods.put_raw(broken)  # an object turning bad stays in the cache
        await eventually(lambda: (informer.get("default/a") or kept).unmodelled != kept.unmodelled)
        assert informer.get("default/a") is not None
    finally:
        await informer.stop()


async def test_an_object_that_cannot_be_converted_keeps_its_last_value(world: Any) -> None:
    pods, api = world

    def picky(obj: dict[str, Any]) -> Pod:
        if obj["metadata"].get("labels", {}).get("poison"):
            raise ValueError("cannot read this version")
        return pod_from_dict(obj)

    informer: Informer[Pod] = Informer(
        "pods", CoreV1Api(api).list_pod_for_all_namespaces, picky, settings=FAST
    )
    await started(informer)
    try:
        await eventually(lambda: pods.open_streams == 1)
        before = informer.get("default/a")
        poisoned = pod("a", 0)
        poisoned["metadata"]["labels"] = {"poison": "yes"}
        pods.put_raw(poisoned)
        pods.put("b", cpu="700m")  # a later event, so the poisoned one was surely applied
        await eventually(lambda: cpu_of(informer, "default/b") == 700)
        assert informer.get("default/a") == before
    finally:
        await informer.stop()


async def test_stop_cancels_an_open_watch_cleanly(world: Any) -> None:
    pods, api = world
    informer = await started(make_informer(api))
    await eventually(lambda: pods.open_streams == 1)
    assert informer.running
    await informer.stop()
    assert not informer.running
    await eventually(lambda: pods.open_streams == 0)


def test_unreadable_fields_are_logged_once_per_version(caplog: pytest.LogCaptureFixture) -> None:
    """A re-list converts every object again: the same version is not logged twice."""

    async def never(**_: Any) -> None:
        raise AssertionError("not called")

    informer: Informer[Pod] = Informer("pods", never, pod_from_dict, settings=FAST)
    bad = pod("bad", 7)
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "a lot"
    caplog.set_level("WARNING", logger="autoscaler.kube.informer")
    for _ in range(3):
        assert informer._convert(bad) is not None
    bad["metadata"]["resourceVersion"] = "8"
    informer._convert(bad)
    logged = [r.getMessage() for r in caplog.records if "default/bad" in r.getMessage()]
    assert len(logged) == 2
    assert "resourceVersion 7" in logged[0] and "resourceVersion 8" in logged[1]
