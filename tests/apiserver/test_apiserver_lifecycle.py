"""Starting, stopping, in-process access and the audit log."""

from __future__ import annotations

import asyncio

import pytest
from apiserver_helpers import pod_body, widget_crd
from kubernetes_asyncio import client, config, watch

from testbed.apiserver import ApiError, FakeApiServer, project_crds


async def test_stopping_ends_open_watches() -> None:
    server = FakeApiServer()
    await server.start()
    api = await config.new_client_from_config_dict(server.kubeconfig())
    received: list[str] = []
    initial_namespaces_seen = asyncio.Event()

    async def follow() -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                client.CoreV1Api(api).list_namespace, timeout_seconds=600
            ):
                received.append(event["type"])
                if len(received) == 4:
                    initial_namespaces_seen.set()

    task = asyncio.create_task(follow())
    await asyncio.wait_for(initial_namespaces_seen.wait(), 30)
    await asyncio.wait_for(server.stop(), 30)
    await asyncio.wait_for(task, 30)
    await api.close()
    assert received == ["ADDED"] * 4


async def test_in_process_access_shares_the_same_store(server: FakeApiServer) -> None:
    registry = server.registry
    pods = registry.find("pods")
    running = pod_body("seeded")
    running["status"] = {"phase": "Running"}
    assert registry.seed(pods, [running]) == 1
    api = await config.new_client_from_config_dict(server.kubeconfig())
    async with api:
        pod = await client.CoreV1Api(api).read_namespaced_pod("seeded", "default")
    assert pod.status.phase == "Running"
    record = registry.get(pods, "default", "seeded")
    assert record.load()["metadata"]["uid"] == pod.metadata.uid
    with pytest.raises(ApiError) as raised:
        registry.find("unicorns")
    assert raised.value.code == 404


async def test_the_audit_log_shows_what_clients_sent(
    server: FakeApiServer, custom: client.CustomObjectsApi
) -> None:
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, "typo": 1},
    }
    with pytest.raises(client.ApiException):
        await custom.create_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", body, field_validation="Strict"
        )
    entry = server.audit[-1]
    assert (entry.verb, entry.resource, entry.code) == ("create", "widgets", 422)
    assert entry.query["fieldValidation"] == "Strict"


async def test_warn_field_validation_answers_with_warnings(server: FakeApiServer) -> None:
    import aiohttp

    body = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, "typo": 1},
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/apis/example.com/v1/namespaces/default/widgets",
            params={"fieldValidation": "Warn"},
            json=body,
        ) as response,
    ):
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"spec.typo\\""']
        assert (await response.json())["spec"] == {"size": 1}


async def test_registering_a_crd_twice_updates_it() -> None:
    async with FakeApiServer(crds=[widget_crd(), widget_crd()]) as server:
        served = [t.group_resource for t in server.registry.types if t.custom]
    assert served == ["widgets.example.com"]


async def test_the_project_crds_are_served_when_present() -> None:
    sources = project_crds()
    if not sources:
        pytest.skip("no CRD directories in this checkout")
    async with FakeApiServer(crds=sources) as server:
        custom = {t.group_resource for t in server.registry.types if t.custom}
    assert "virtualmachines.kubevirt.io" in custom or "nodepools.autoscaling.kvpool.io" in custom


async def test_a_client_that_goes_away_releases_its_watch(server: FakeApiServer) -> None:
    import aiohttp

    table = server.registry.store.table("pods")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.url}/api/v1/pods", params={"watch": "1"}) as response,
    ):
        assert response.status == 200
        assert len(table.watchers) == 1
    for _ in range(500):
        if not table.watchers:
            break
        await asyncio.sleep(0.01)
    assert not table.watchers


async def test_replacing_a_pod_without_its_defaults_is_not_a_spec_change(
    core: client.CoreV1Api,
) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    current = await core.read_namespaced_pod("p", "default", _preload_content=False)
    body = await current.json()
    del body["spec"]["schedulerName"], body["spec"]["restartPolicy"]
    body["metadata"]["labels"] = {"x": "y"}
    replaced = await core.replace_namespaced_pod("p", "default", body)
    assert replaced.spec.scheduler_name == "default-scheduler"
    assert replaced.metadata.labels == {"x": "y"}
