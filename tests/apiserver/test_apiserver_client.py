"""Core behaviour through the real kubernetes_asyncio client."""

from __future__ import annotations

import json

import pytest
from apiserver_helpers import pod_body
from kubernetes_asyncio import client

from testbed.apiserver import FakeApiServer


def status_of(error: client.ApiException) -> dict:
    return json.loads(error.body)


async def test_discovery_lists_groups_and_resources(api: client.ApiClient) -> None:
    version = await client.VersionApi(api).get_code()
    assert version.major == "1"
    groups = {group.name for group in (await client.ApisApi(api).get_api_versions()).groups}
    assert {"policy", "coordination.k8s.io", "apps", "events.k8s.io", "example.com"} <= groups
    core_resources = await client.CoreV1Api(api).get_api_resources()
    names = {resource.name for resource in core_resources.resources}
    assert {"pods", "pods/status", "pods/eviction", "pods/binding", "nodes", "secrets"} <= names
    custom = await client.CustomObjectsApi(api).get_api_resources("example.com", "v1")
    assert {(r.name, r.namespaced) for r in custom.resources} >= {
        ("widgets", True),
        ("gadgets", False),
        ("widgets/status", True),
    }


async def test_create_fills_metadata_and_generate_name(core: client.CoreV1Api) -> None:
    created = await core.create_namespaced_pod(
        "default", {"metadata": {"generateName": "web-"}, "spec": pod_body("x")["spec"]}
    )
    assert created.metadata.name.startswith("web-") and len(created.metadata.name) == 9
    assert created.metadata.uid and created.metadata.creation_timestamp
    assert created.status.phase == "Pending"
    fetched = await core.read_namespaced_pod(created.metadata.name, "default")
    assert fetched.metadata.resource_version == created.metadata.resource_version


async def test_create_twice_is_already_exists(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod("default", pod_body("p"))
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "AlreadyExists"


async def test_missing_objects_and_namespaces_are_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as raised:
        await core.read_namespaced_pod("nope", "default")
    assert raised.value.status == 404
    assert status_of(raised.value)["message"] == 'pods "nope" not found'
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod("absent", pod_body("p"))
    assert status_of(raised.value)["message"] == 'namespaces "absent" not found'


async def test_invalid_names_and_labels_are_rejected(core: client.CoreV1Api) -> None:
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod("default", pod_body("Bad_Name", {"k": "a value"}))
    status = status_of(raised.value)
    assert raised.value.status == 422 and status["reason"] == "Invalid"
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert fields == {"metadata.name", "metadata.labels[k]"}


async def test_replace_with_a_stale_version_conflicts(core: client.CoreV1Api) -> None:
    created = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    created.data = {"a": "2"}
    updated = await core.replace_namespaced_config_map("cm", "default", created)
    assert int(updated.metadata.resource_version) > int(created.metadata.resource_version)
    created.data = {"a": "3"}
    with pytest.raises(client.ApiException) as raised:
        await core.replace_namespaced_config_map("cm", "default", created)
    assert raised.value.status == 409
    assert status_of(raised.value)["reason"] == "Conflict"
    # An update that changes nothing writes nothing.
    same = await core.replace_namespaced_config_map("cm", "default", updated)
    assert same.metadata.resource_version == updated.metadata.resource_version


async def test_label_and_field_selectors(core: client.CoreV1Api) -> None:
    for index in range(6):
        labels = {"app": "web" if index % 2 else "db", "index": str(index)}
        await core.create_namespaced_pod("default", pod_body(f"p{index}", labels))
    await core.create_namespaced_pod_binding(
        "p1",
        "default",
        {"metadata": {"name": "p1"}, "target": {"kind": "Node", "name": "n1"}},
        _preload_content=False,
    )
    web = await core.list_namespaced_pod("default", label_selector="app=web,index notin (5)")
    assert sorted(pod.metadata.name for pod in web.items) == ["p1", "p3"]
    on_node = await core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1")
    assert [pod.metadata.name for pod in on_node.items] == ["p1"]
    bound = on_node.items[0]
    assert [c.type for c in bound.status.conditions] == ["PodScheduled"]
    unbound = await core.list_namespaced_pod(
        "default", field_selector="spec.nodeName=,status.phase=Pending"
    )
    assert len(unbound.items) == 5
    with pytest.raises(client.ApiException) as raised:
        await core.list_namespaced_pod("default", field_selector="spec.color=red")
    assert raised.value.status == 400
    assert "field label not supported" in status_of(raised.value)["message"]


async def test_node_field_selector_on_unschedulable(core: client.CoreV1Api) -> None:
    await core.create_node({"metadata": {"name": "n1"}, "spec": {"unschedulable": True}})
    await core.create_node({"metadata": {"name": "n2"}})
    cordoned = await core.list_node(field_selector="spec.unschedulable=true")
    assert [node.metadata.name for node in cordoned.items] == ["n1"]


async def test_limit_and_continue_page_through_everything(core: client.CoreV1Api) -> None:
    for index in range(7):
        await core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = await core.list_namespaced_config_map("default", limit=3, _continue=token)
        seen.extend(item.metadata.name for item in page.items)
        pages += 1
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 7 - len(seen)
    assert pages == 3
    assert seen == sorted(f"c{index}" for index in range(7))
    with pytest.raises(client.ApiException) as raised:
        await core.list_namespaced_config_map("default", limit=3, _continue="garbage")
    assert raised.value.status == 400


async def test_continue_token_expires_with_the_history(
    server: FakeApiServer, core: client.CoreV1Api
) -> None:
    for index in range(4):
        await core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
    page = await core.list_namespaced_config_map("default", limit=2)
    for index in range(60):  # more changes than the history of 50 keeps
        await core.patch_namespaced_config_map("c0", "default", {"data": {"i": str(index)}})
    with pytest.raises(client.ApiException) as raised:
        await core.list_namespaced_config_map("default", limit=2, _continue=page.metadata._continue)
    assert raised.value.status == 410
    assert status_of(raised.value)["reason"] == "Expired"


async def test_status_subresource_separates_spec_and_status(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    await core.patch_namespaced_pod_status(
        "p", "default", {"status": {"phase": "Running"}, "metadata": {"labels": {"x": "y"}}}
    )
    pod = await core.read_namespaced_pod("p", "default")
    assert pod.status.phase == "Running" and not pod.metadata.labels
    await core.patch_namespaced_pod(
        "p", "default", {"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "y"}}}
    )
    pod = await core.read_namespaced_pod("p", "default")
    assert pod.status.phase == "Running" and pod.metadata.labels == {"x": "y"}


async def test_pod_spec_is_immutable_except_allowed_fields(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    with pytest.raises(client.ApiException) as raised:
        await core.patch_namespaced_pod("p", "default", {"spec": {"nodeName": "n1"}})
    assert raised.value.status == 422
    await core.patch_namespaced_pod(
        "p", "default", {"spec": {"tolerations": [{"key": "k", "operator": "Exists"}]}}
    )


async def test_json_patch_and_resource_version_precondition(core: client.CoreV1Api) -> None:
    created = await core.create_namespaced_config_map(
        "default", {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    patched = await core.patch_namespaced_config_map(
        "cm", "default", [{"op": "add", "path": "/data/b", "value": "2"}]
    )
    assert patched.data == {"a": "1", "b": "2"}
    with pytest.raises(client.ApiException) as raised:
        await core.patch_namespaced_config_map(
            "cm",
            "default",
            {"metadata": {"resourceVersion": created.metadata.resource_version}, "data": {}},
        )
    assert raised.value.status == 409
    with pytest.raises(client.ApiException) as raised:
        await core.patch_namespaced_config_map(
            "cm", "default", [{"op": "test", "path": "/data/a", "value": "9"}]
        )
    assert raised.value.status == 422


async def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api) -> None:
    await core.create_namespaced_secret(
        "default",
        {"metadata": {"name": "s", "finalizers": ["kvpool.io/cleanup"]}, "stringData": {"k": "v"}},
    )
    secret = await core.read_namespaced_secret("s", "default")
    assert secret.data == {"k": "dg=="} and secret.type == "Opaque"
    await core.delete_namespaced_secret("s", "default", propagation_policy="Foreground")
    pending = await core.read_namespaced_secret("s", "default")
    assert pending.metadata.deletion_timestamp is not None
    with pytest.raises(client.ApiException) as raised:
        await core.patch_namespaced_secret(
            "s", "default", {"metadata": {"finalizers": ["kvpool.io/cleanup", "other"]}}
        )
    assert raised.value.status == 422
    await core.patch_namespaced_secret(
        "s", "default", [{"op": "remove", "path": "/metadata/finalizers"}]
    )
    with pytest.raises(client.ApiException) as raised:
        await core.read_namespaced_secret("s", "default")
    assert raised.value.status == 404


async def test_delete_preconditions_and_collection(core: client.CoreV1Api) -> None:
    for index in range(3):
        await core.create_namespaced_config_map(
            "default", {"metadata": {"name": f"c{index}", "labels": {"drop": str(index < 2)}}}
        )
    with pytest.raises(client.ApiException) as raised:
        await core.delete_namespaced_config_map(
            "c0", "default", body={"preconditions": {"uid": "not-the-uid"}}
        )
    assert raised.value.status == 409
    await core.delete_collection_namespaced_config_map("default", label_selector="drop=True")
    left = await core.list_namespaced_config_map("default")
    assert [item.metadata.name for item in left.items] == ["c2"]


async def test_deleting_an_owner_deletes_its_dependents(core: client.CoreV1Api) -> None:
    owner = await core.create_namespaced_config_map("default", {"metadata": {"name": "owner"}})
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    await core.create_namespaced_secret(
        "default", {"metadata": {"name": "child", "ownerReferences": [reference]}}
    )
    await core.create_namespaced_secret(
        "default", {"metadata": {"name": "kept", "ownerReferences": [reference]}}
    )
    await core.patch_namespaced_secret("kept", "default", {"metadata": {"ownerReferences": None}})
    await core.delete_namespaced_config_map("owner", "default")
    names = [item.metadata.name for item in (await core.list_namespaced_secret("default")).items]
    assert names == ["kept"]


async def test_namespace_deletion_removes_its_contents(core: client.CoreV1Api) -> None:
    await core.create_namespace({"metadata": {"name": "team-a"}})
    await core.create_namespaced_config_map("team-a", {"metadata": {"name": "c"}})
    await core.delete_namespace("team-a")
    with pytest.raises(client.ApiException):
        await core.read_namespace("team-a")
    assert (await core.list_config_map_for_all_namespaces()).items == []


async def test_leases_for_leader_election(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    lease = await leases.create_namespaced_lease(
        "kube-system",
        {
            "metadata": {"name": "kvpool"},
            "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
        },
    )
    lease.spec.holder_identity = "b"
    await leases.replace_namespaced_lease("kvpool", "kube-system", lease)
    lease.spec.holder_identity = "c"
    with pytest.raises(client.ApiException) as raised:
        await leases.replace_namespaced_lease("kvpool", "kube-system", lease)
    assert raised.value.status == 409
    assert (await leases.read_namespaced_lease("kvpool", "kube-system")).spec.holder_identity == "b"


async def test_events_daemonsets_and_dry_run(api: client.ApiClient) -> None:
    events = client.EventsV1Api(api)
    await events.create_namespaced_event(
        "default",
        {
            "metadata": {"name": "e1"},
            "eventTime": "2024-01-01T00:00:00.000000Z",
            "reason": "ScaledUp",
            "action": "Launch",
            "reportingController": "kvpool.io/autoscaler",
            "reportingInstance": "a",
            "type": "Normal",
        },
    )
    listed = await events.list_namespaced_event("default", field_selector="reason=ScaledUp")
    assert [event.metadata.name for event in listed.items] == ["e1"]
    apps = client.AppsV1Api(api)
    body = {
        "metadata": {"name": "ds"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod_body("x")["spec"]},
        },
    }
    await apps.create_namespaced_daemon_set("kube-system", body, dry_run="All")
    assert (await apps.list_daemon_set_for_all_namespaces()).items == []
    created = await apps.create_namespaced_daemon_set("kube-system", body)
    assert created.metadata.generation == 1


async def test_bearer_token_is_required_when_configured() -> None:
    from kubernetes_asyncio import config

    async with FakeApiServer(token="secret-token") as server:
        good = await config.new_client_from_config_dict(server.kubeconfig())
        async with good:
            await client.CoreV1Api(good).list_namespace()
        config_without_token = server.kubeconfig()
        config_without_token["users"][0]["user"] = {}
        bad = await config.new_client_from_config_dict(config_without_token)
        async with bad:
            with pytest.raises(client.ApiException) as raised:
                await client.CoreV1Api(bad).list_namespace()
            assert raised.value.status == 401
