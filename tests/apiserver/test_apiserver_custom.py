"""Custom resources: registration from CRDs, schema checks, patches, status subresource."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apiserver_helpers import widget_crd
from kubernetes_asyncio import client

from testbed.apiserver import FakeApiServer

GROUP, VERSION = "example.com", "v1"


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": 1, **spec},
    }


async def create_widget(custom: client.CustomObjectsApi, body: dict[str, Any], **kw: Any) -> Any:
    return await custom.create_namespaced_custom_object(
        GROUP, VERSION, "default", "widgets", body, **kw
    )


async def test_merge_patch_on_a_custom_object(custom: client.CustomObjectsApi) -> None:
    await create_widget(custom, widget("w", color="red"))
    patched = await custom.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        "widgets",
        "w",
        {"spec": {"color": None, "size": 4}},
        _content_type="application/merge-patch+json",
    )
    assert patched["spec"] == {"size": 4}
    assert patched["metadata"]["generation"] == 2


async def test_strategic_merge_patch_on_a_custom_object_is_unsupported(
    server: FakeApiServer, custom: client.CustomObjectsApi
) -> None:
    await create_widget(custom, widget("w"))
    with pytest.raises(client.ApiException) as raised:
        await custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            "default",
            "widgets",
            "w",
            {"spec": {"size": 2}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert raised.value.status == 415
    assert json.loads(raised.value.body)["reason"] == "UnsupportedMediaType"


async def test_unknown_fields_are_pruned_unless_strict(custom: client.CustomObjectsApi) -> None:
    created = await create_widget(custom, widget("w", colour="red", extra={"free": {"x": 1}}))
    assert created["spec"] == {"size": 1, "extra": {"free": {"x": 1}}}
    with pytest.raises(client.ApiException) as raised:
        await create_widget(custom, widget("v", colour="red"), field_validation="Strict")
    status = json.loads(raised.value.body)
    assert raised.value.status == 422 and status["reason"] == "Invalid"
    assert [cause["field"] for cause in status["details"]["causes"]] == ["spec.colour"]


async def test_schema_types_enums_and_required_fields_are_enforced(
    custom: client.CustomObjectsApi,
) -> None:
    body = widget("w", color="green")
    body["spec"]["size"] = "big"
    with pytest.raises(client.ApiException) as raised:
        await create_widget(custom, body)
    fields = [cause["field"] for cause in json.loads(raised.value.body)["details"]["causes"]]
    assert sorted(fields) == ["spec.color", "spec.size"]
    with pytest.raises(client.ApiException) as raised:
        await create_widget(custom, {**widget("w"), "spec": {}})
    assert "spec.size" in json.loads(raised.value.body)["message"]


async def test_custom_status_subresource(custom: client.CustomObjectsApi) -> None:
    await create_widget(custom, {**widget("w"), "status": {"ready": True}})
    created = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", "widgets", "w")
    assert "status" not in created  # create ignores status when there is a status subresource
    await custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "default",
        "widgets",
        "w",
        {"status": {"ready": True}, "spec": {"size": 9}},
        _content_type="application/merge-patch+json",
    )
    current = await custom.get_namespaced_custom_object(GROUP, VERSION, "default", "widgets", "w")
    assert current["status"] == {"ready": True} and current["spec"]["size"] == 1
    assert current["metadata"]["generation"] == 1  # status changes do not bump the generation
    current["spec"]["size"] = 2
    current["status"] = {"ready": False}
    replaced = await custom.replace_namespaced_custom_object(
        GROUP, VERSION, "default", "widgets", "w", current
    )
    assert replaced["spec"]["size"] == 2 and replaced["status"] == {"ready": True}


async def test_replace_of_a_custom_object_needs_a_resource_version(
    custom: client.CustomObjectsApi,
) -> None:
    created = await create_widget(custom, widget("w"))
    del created["metadata"]["resourceVersion"]
    with pytest.raises(client.ApiException) as raised:
        await custom.replace_namespaced_custom_object(
            GROUP, VERSION, "default", "widgets", "w", created
        )
    assert raised.value.status == 422


async def test_cluster_scoped_custom_objects(custom: client.CustomObjectsApi) -> None:
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g"},
        "spec": {"size": 3},
    }
    await custom.create_cluster_custom_object(GROUP, VERSION, "gadgets", body)
    listed = await custom.list_cluster_custom_object(GROUP, VERSION, "gadgets")
    assert listed["kind"] == "GadgetList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["g"]
    assert "namespace" not in listed["items"][0]["metadata"]
    deleted = await custom.delete_cluster_custom_object(GROUP, VERSION, "gadgets", "g")
    assert deleted["status"] == "Success"


async def test_a_crd_created_through_the_api_is_served(api: client.ApiClient) -> None:
    extensions = client.ApiextensionsV1Api(api)
    await extensions.create_custom_resource_definition(widget_crd("Namespaced", "things", "Thing"))
    custom = client.CustomObjectsApi(api)
    body = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t"},
        "spec": {"size": 1},
    }
    await custom.create_namespaced_custom_object(GROUP, VERSION, "default", "things", body)
    crd = await extensions.read_custom_resource_definition("things.example.com")
    assert {c.type for c in crd.status.conditions} == {"Established", "NamesAccepted"}


async def test_kubevirt_vm_strict_rejects_a_misspelt_field(vm_crd: dict[str, Any]) -> None:
    from kubernetes_asyncio import config

    def vm(cloud_init: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachine",
            "metadata": {"name": "worker-1", "namespace": "default"},
            "spec": {
                "runStrategy": "Always",
                "template": {
                    "spec": {
                        "domain": {"devices": {"disks": [{"name": "root"}]}},
                        "volumes": [
                            {"name": "root", "containerDisk": {"image": "registry/worker:1"}},
                            {"name": "cloudinit", "cloudInitNoCloud": cloud_init},
                        ],
                    }
                },
            },
        }

    async with FakeApiServer(crds=[vm_crd]) as server:
        api_client = await config.new_client_from_config_dict(server.kubeconfig())
        async with api_client:
            custom = client.CustomObjectsApi(api_client)
            args = ("kubevirt.io", "v1", "default", "virtualmachines")
            with pytest.raises(client.ApiException) as raised:
                await custom.create_namespaced_custom_object(
                    *args, vm({"userDataSecretRef": {"name": "boot"}}), field_validation="Strict"
                )
            assert raised.value.status == 422
            status = json.loads(raised.value.body)
            assert [cause["field"] for cause in status["details"]["causes"]] == [
                "spec.template.spec.volumes[1].cloudInitNoCloud.userDataSecretRef"
            ]
            created = await custom.create_namespaced_custom_object(
                *args, vm({"secretRef": {"name": "boot"}}), field_validation="Strict"
            )
            volume = created["spec"]["template"]["spec"]["volumes"][1]
            assert volume["cloudInitNoCloud"] == {"secretRef": {"name": "boot"}}
            older = await custom.get_namespaced_custom_object(
                "kubevirt.io", "v1alpha3", "default", "virtualmachines", "worker-1"
            )
            assert older["apiVersion"] == "kubevirt.io/v1alpha3"
