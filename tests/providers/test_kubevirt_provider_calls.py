"""KubeVirtProvider's requests and its handling of each answer, against scripted API responses.

The end-to-end behaviour over HTTP is covered against the fake API server; these tests pin the
exact calls (Strict validation, merge patch, propagation) and every error branch.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from provider_contract import request

from autoscaler.api.naming import user_data_secret_name
from autoscaler.core.model import VMPhase
from autoscaler.providers.errors import NotReady, ProviderError
from autoscaler.providers.kubevirt import KubeVirtProvider, translate

NAMESPACE = "team-a-vms"


class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = "Scripted"
        self._body = json.dumps(body).encode()
        self.released = False

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        self.released = True


@dataclass
class Recorded:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class ScriptedApi:
    """Answers each generated-client method from a queue; 200 with ``{}`` when none is queued."""

    calls: list[Recorded] = field(default_factory=list)
    script: dict[str, deque[Any]] = field(default_factory=dict)

    def answer(self, method: str, status: int, body: Any = None) -> None:
        self.script.setdefault(method, deque()).append((status, body or {}))

    def raise_on(self, method: str, error: Exception) -> None:
        self.script.setdefault(method, deque()).append(error)

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        async def call(*args: Any, **kwargs: Any) -> FakeResponse:
            assert kwargs.pop("_preload_content") is False
            self.calls.append(Recorded(method, args, kwargs))
            # Custom-object lists may be scripted per plural: "method/plural".
            plural = args[3] if len(args) > 3 else None
            queued = self.script.get(f"{method}/{plural}") or self.script.get(method)
            answer = queued.popleft() if queued else (200, {})
            if isinstance(answer, Exception):
                raise answer
            return FakeResponse(*answer)

        return call


@pytest.fixture
def api() -> ScriptedApi:
    return ScriptedApi()


@pytest.fixture
async def provider(api: ScriptedApi) -> Any:
    async with ApiClient() as client:
        kubevirt = KubeVirtProvider(client, NAMESPACE, page_size=2)
        kubevirt._core = api  # type: ignore[assignment]
        kubevirt._custom = api  # type: ignore[assignment]
        yield kubevirt


def ours(tenant: str = "team-a") -> dict[str, Any]:
    return {
        "metadata": {
            "labels": {
                "kvpool.io/tenant": tenant,
                "app.kubernetes.io/managed-by": "kubevirt-autoscaler",
            }
        }
    }


async def test_launch_creates_the_secret_then_the_vm_with_strict_validation(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    req = request()
    await provider.launch(req)
    assert api.methods() == ["create_namespaced_secret", "create_namespaced_custom_object"]
    secret_call, vm_call = api.calls
    assert secret_call.args[0] == NAMESPACE
    assert secret_call.args[1]["metadata"]["name"] == user_data_secret_name(req.name)
    assert vm_call.args[:4] == ("kubevirt.io", "v1", NAMESPACE, "virtualmachines")
    assert vm_call.args[4]["metadata"]["name"] == req.name
    assert vm_call.kwargs["field_validation"] == "Strict"


async def test_existing_vm_of_ours_is_success(provider: KubeVirtProvider, api: ScriptedApi) -> None:
    api.answer("create_namespaced_custom_object", 409)
    api.answer("get_namespaced_custom_object", 200, ours())
    await provider.launch(request())
    assert api.methods()[-1] == "get_namespaced_custom_object"


async def test_existing_vm_of_someone_else_is_refused(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("create_namespaced_custom_object", 409)
    api.answer("get_namespaced_custom_object", 200, ours("team-b"))
    with pytest.raises(ProviderError, match="not managed") as caught:
        await provider.launch(request())
    assert not caught.value.retryable


async def test_leftover_secret_of_ours_is_refreshed_with_a_merge_patch(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("create_namespaced_secret", 409)
    api.answer("read_namespaced_secret", 200, ours())
    await provider.launch(request())
    patch = next(c for c in api.calls if c.method == "patch_namespaced_secret")
    assert patch.kwargs["_content_type"] == "application/merge-patch+json"
    assert set(patch.args[2]) == {"data"}
    assert api.methods()[-1] == "create_namespaced_custom_object"


async def test_secret_of_someone_else_is_refused(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("create_namespaced_secret", 409)
    api.answer("read_namespaced_secret", 200, {"metadata": {"labels": {}}})
    with pytest.raises(ProviderError, match="Secret"):
        await provider.launch(request())
    assert "create_namespaced_custom_object" not in api.methods()


async def test_rejected_vm_removes_its_secret(provider: KubeVirtProvider, api: ScriptedApi) -> None:
    message = 'unknown field "spec.template.spec.volumes[1].cloudInitNoCloud.userDataSecretRef"'
    api.answer("create_namespaced_custom_object", 422, {"message": message})
    with pytest.raises(ProviderError, match="userDataSecretRef") as caught:
        await provider.launch(request())
    assert not caught.value.retryable
    assert api.methods()[-1] == "delete_namespaced_secret"


async def test_vm_failing_for_now_keeps_its_secret_for_the_retry(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("create_namespaced_custom_object", 503, {"message": "etcd is slow"})
    with pytest.raises(ProviderError) as caught:
        await provider.launch(request())
    assert caught.value.retryable
    assert "delete_namespaced_secret" not in api.methods()


async def test_missing_kubevirt_api_is_not_ready(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("create_namespaced_custom_object", 404)
    with pytest.raises(NotReady):
        await provider.launch(request())


async def test_invalid_request_is_refused_before_any_call(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    req = request()
    bad = type(req)(
        "Not_A_Name", req.tenant, req.pool, req.shape, req.image, req.user_data, req.host
    )
    with pytest.raises(ProviderError, match="Not_A_Name"):
        await provider.launch(bad)
    assert api.calls == []


async def test_delete_removes_vm_then_secret_and_not_found_is_success(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("delete_namespaced_custom_object", 404)
    api.answer("delete_namespaced_secret", 404)
    await provider.delete("vm-1")
    assert api.methods() == ["delete_namespaced_custom_object", "delete_namespaced_secret"]
    vm_call, secret_call = api.calls
    assert vm_call.args == ("kubevirt.io", "v1", NAMESPACE, "virtualmachines", "vm-1")
    assert vm_call.kwargs["propagation_policy"] == "Background"
    assert secret_call.args == (user_data_secret_name("vm-1"), NAMESPACE)


async def test_delete_refuses_what_cannot_be_a_vm_name(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    with pytest.raises(ProviderError, match="not a VM name"):
        await provider.delete("../secrets/x")
    assert api.calls == []


async def test_delete_failure_is_a_provider_error(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("delete_namespaced_custom_object", 403, {"message": "forbidden"})
    with pytest.raises(ProviderError, match="forbidden") as caught:
        await provider.delete("vm-1")
    assert not caught.value.retryable


async def test_list_follows_continue_tokens_and_tolerates_missing_cdi(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    def vm(name: str) -> dict[str, Any]:
        return {"metadata": {"name": name}, "spec": {}}

    method = "list_namespaced_custom_object"
    api.answer(
        f"{method}/virtualmachines",
        200,
        {"items": [vm("vm-1"), vm("vm-2")], "metadata": {"continue": "t1"}},
    )
    api.answer(f"{method}/virtualmachines", 200, {"items": [vm("vm-3")], "metadata": {}})
    api.answer(f"{method}/virtualmachineinstances", 200, {"items": []})
    api.answer(f"{method}/datavolumes", 404)  # CDI not installed
    vms = await provider.list("team-a")
    assert [v.name for v in vms] == ["vm-1", "vm-2", "vm-3"]
    selectors = {c.kwargs["label_selector"] for c in api.calls}
    assert selectors == {"kvpool.io/tenant=team-a,app.kubernetes.io/managed-by=kubevirt-autoscaler"}
    tokens = [c.kwargs["_continue"] for c in api.calls if c.args[-1] == "virtualmachines"]
    assert tokens == [None, "t1"]
    # A spec without a domain is reported, not dropped.
    assert all(v.phase is VMPhase.FAILED for v in vms)


async def test_list_without_kubevirt_is_not_ready(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    api.answer("list_namespaced_custom_object", 404)
    with pytest.raises(NotReady):
        await provider.list("team-a")


async def test_hosts_from_labelled_nodes_and_live_pods(
    provider: KubeVirtProvider, api: ScriptedApi
) -> None:
    node = {
        "metadata": {"name": "metal-1", "labels": {"kubevirt.io/schedulable": "true"}},
        "status": {
            "allocatable": {"cpu": "32", "memory": "128Gi"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    pod = {
        "spec": {
            "nodeName": "metal-1",
            "containers": [{"resources": {"requests": {"cpu": "4", "memory": "8Gi"}}}],
        },
        "status": {"phase": "Running"},
    }
    api.answer("list_node", 200, {"items": [node]})
    api.answer("list_pod_for_all_namespaces", 200, {"items": [pod]})
    (host,) = await provider.hosts()
    assert (host.name, host.allocated.cpu, host.free.cpu) == ("metal-1", 4000, 28000)
    by_method = {c.method: c.kwargs for c in api.calls}
    assert by_method["list_node"]["label_selector"] == "kubevirt.io/schedulable=true"
    assert "status.phase!=Succeeded" in by_method["list_pod_for_all_namespaces"]["field_selector"]


async def test_transport_errors_are_retryable(provider: KubeVirtProvider, api: ScriptedApi) -> None:
    api.raise_on("list_node", aiohttp.ClientConnectionError("connection refused"))
    with pytest.raises(ProviderError, match="connection refused") as caught:
        await provider.hosts()
    assert caught.value.retryable


@pytest.mark.parametrize(
    ("status", "message", "retryable"),
    [
        (400, "bad request", False),
        (422, "invalid", False),
        (403, "forbidden: User cannot create", False),
        (403, "exceeded quota: compute, requested: requests.memory=16Gi", True),
        (429, "slow down", True),
        (500, "internal error", True),
        (503, "unavailable", True),
    ],
)
def test_translate_by_status(status: int, message: str, retryable: bool) -> None:
    exc = ApiException(status=status, reason="x")
    exc.body = json.dumps({"message": message}).encode()
    error = translate(exc, "create VirtualMachine ns/vm-1")
    assert error.retryable is retryable
    assert message in error.message and "vm-1" in error.message
