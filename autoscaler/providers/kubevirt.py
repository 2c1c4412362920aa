"""The KubeVirt provider: VirtualMachines and their user-data Secrets on the management cluster.

One provider serves one tenant's VM namespace. Every custom-object write asks for
``fieldValidation=Strict`` so that a field the KubeVirt schema does not know fails the request
instead of being pruned silently. Lists ask for raw JSON (``_preload_content=False``): the
generated model classes are slow and the status mapping wants dicts anyway.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from autoscaler.api.naming import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    TENANT_LABEL,
    is_dns_label,
    label_value,
    tenant_selector,
    user_data_secret_name,
)
from autoscaler.api.vmbuilder import (
    DEFAULT_OPTIONS,
    VMIdentity,
    VMOptions,
    build_user_data_secret,
    build_vm,
)
from autoscaler.core.model import Host, VirtualMachine
from autoscaler.providers.errors import NotReady, ProviderError
from autoscaler.providers.host_capacity import SCHEDULABLE_LABEL, hosts_from
from autoscaler.providers.kubevirt_status import to_core_vms
from autoscaler.providers.protocol import LaunchRequest
from autoscaler.rawjson import MERGE_PATCH, JsonDict, call_json

log = logging.getLogger(__name__)

KUBEVIRT: Final = ("kubevirt.io", "v1")
CDI: Final = ("cdi.kubevirt.io", "v1beta1")
VMS: Final = "virtualmachines"
VMIS: Final = "virtualmachineinstances"
DATA_VOLUMES: Final = "datavolumes"
FIELD_MANAGER: Final = "kubevirt-autoscaler"
NON_TERMINAL_PODS: Final = "status.phase!=Succeeded,status.phase!=Failed"


def _message(exc: ApiException) -> str:
    """The API server's Status message when the body carries one."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body[:300]
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            return str(parsed["message"])
    return f"HTTP {exc.status} {exc.reason or ''}".strip()


def translate(exc: Exception, what: str) -> ProviderError:
    """The provider error for a failed API call; ``what`` says which call."""
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        message = f"{what}: {_message(exc)}"
        if status in (400, 422):
            return ProviderError(f"{message} (the request was rejected)", retryable=False)
        if status in (401, 403):
            # A namespace ResourceQuota clears as VMs go away; RBAC problems do not.
            return ProviderError(message, retryable="exceeded quota" in message)
        return ProviderError(message, retryable=status == 0 or status == 429 or status >= 500)
    return ProviderError(f"{what}: {type(exc).__name__}: {exc}", retryable=True)


@asynccontextmanager
async def api_errors(what: str) -> AsyncIterator[None]:
    """Turns client and transport errors into :class:`ProviderError`."""
    try:
        yield
    except ProviderError:
        raise
    except (ApiException, aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise translate(exc, what) from exc


def _status(exc: BaseException) -> int | None:
    return int(exc.status) if isinstance(exc, ApiException) and exc.status else None


def _labels(obj: JsonDict) -> dict[str, Any]:
    metadata = obj.get("metadata")
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return labels if isinstance(labels, dict) else {}


def is_ours(obj: JsonDict, tenant: str) -> bool:
    labels = _labels(obj)
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(TENANT_LABEL) == label_value(
        tenant
    )


class KubeVirtProvider:
    """:class:`~autoscaler.providers.protocol.VMProvider` on KubeVirt, for one VM namespace."""

    def __init__(
        self,
        api_client: ApiClient,
        namespace: str,
        options: VMOptions = DEFAULT_OPTIONS,
        page_size: int = 500,
    ) -> None:
        self.namespace = namespace
        self.options = options
        self._core = CoreV1Api(api_client)
        self._custom = CustomObjectsApi(api_client)
        self._page_size = page_size

    # launch ----------------------------------------------------------------------------------
    async def launch(self, request: LaunchRequest) -> None:
        try:
            identity = VMIdentity(
                request.name,
                self.namespace,
                request.tenant,
                request.pool,
                request.shape,
                request.image,
                replaces=request.replaces,
            )
            vm = build_vm(
                identity, host=request.host, options=self.options, zone=request.zone_labels
            )
        except ValueError as exc:
            raise ProviderError(f"launch {request.name}: {exc}", retryable=False) from exc
        secret = build_user_data_secret(identity, request.user_data)
        await self._create_secret(secret, request.tenant)
        try:
            await self._create_vm(vm, request.tenant)
        except ProviderError as exc:
            if not exc.retryable:
                await self._delete_secret_quietly(identity.name)
            raise

    async def _create_secret(self, secret: JsonDict, tenant: str) -> None:
        name = secret["metadata"]["name"]
        async with api_errors(f"create Secret {self.namespace}/{name}"):
            try:
                await call_json(
                    self._core.create_namespaced_secret,
                    self.namespace,
                    secret,
                    field_manager=FIELD_MANAGER,
                )
                return
            except ApiException as exc:
                if _status(exc) == 404:
                    raise NotReady(f"namespace {self.namespace} does not exist") from exc
                if _status(exc) != 409:
                    raise
            existing = await call_json(self._core.read_namespaced_secret, name, self.namespace)
            if not is_ours(existing, tenant):
                raise ProviderError(
                    f"Secret {self.namespace}/{name} exists and is not managed by "
                    f"{MANAGED_BY} for tenant {tenant}",
                    retryable=False,
                )
            # Left by an interrupted launch: refresh it, its bootstrap token may have expired.
            await call_json(
                self._core.patch_namespaced_secret,
                name,
                self.namespace,
                {"data": secret["data"]},
                field_manager=FIELD_MANAGER,
                _content_type=MERGE_PATCH,
            )

    async def _create_vm(self, vm: JsonDict, tenant: str) -> None:
        name = vm["metadata"]["name"]
        group, version = KUBEVIRT
        async with api_errors(f"create VirtualMachine {self.namespace}/{name}"):
            try:
                await call_json(
                    self._custom.create_namespaced_custom_object,
                    group,
                    version,
                    self.namespace,
                    VMS,
                    vm,
                    field_validation="Strict",
                    field_manager=FIELD_MANAGER,
                )
                return
            except ApiException as exc:
                if _status(exc) == 404:
                    raise NotReady(
                        f"the KubeVirt API ({group}/{version} {VMS}) or namespace "
                        f"{self.namespace} is missing"
                    ) from exc
                if _status(exc) != 409:
                    raise
            existing = await call_json(
                self._custom.get_namespaced_custom_object,
                group,
                version,
                self.namespace,
                VMS,
                name,
            )
            if not is_ours(existing, tenant):
                raise ProviderError(
                    f"VirtualMachine {self.namespace}/{name} exists and is not managed by "
                    f"{MANAGED_BY} for tenant {tenant}",
                    retryable=False,
                )

    # delete ----------------------------------------------------------------------------------
    async def delete(self, name: str) -> None:
        if not is_dns_label(name):
            raise ProviderError(f"delete: {name!r} is not a VM name", retryable=False)
        group, version = KUBEVIRT
        async with api_errors(f"delete VirtualMachine {self.namespace}/{name}"):
            try:
                await call_json(
                    self._custom.delete_namespaced_custom_object,
                    group,
                    version,
                    self.namespace,
                    VMS,
                    name,
                    propagation_policy="Background",
                )
            except ApiException as exc:
                if _status(exc) != 404:
                    raise
        await self._delete_secret(user_data_secret_name(name))

    async def _delete_secret(self, secret_name: str) -> None:
        async with api_errors(f"delete Secret {self.namespace}/{secret_name}"):
            try:
                await call_json(self._core.delete_namespaced_secret, secret_name, self.namespace)
            except ApiException as exc:
                if _status(exc) != 404:
                    raise

    async def _delete_secret_quietly(self, vm_name: str) -> None:
        try:
            await self._delete_secret(user_data_secret_name(vm_name))
        except ProviderError as exc:
            log.warning("could not remove the user data of failed launch %s: %s", vm_name, exc)

    # list ------------------------------------------------------------------------------------
    async def list(self, tenant: str) -> builtins.list[VirtualMachine]:
        selector = tenant_selector(tenant)
        async with api_errors(f"list VMs of tenant {tenant} in {self.namespace}"):
            vms, vmis, data_volumes = await asyncio.gather(
                self._list_custom(KUBEVIRT, VMS, selector, required=True),
                self._list_custom(KUBEVIRT, VMIS, selector, required=True),
                self._list_custom(CDI, DATA_VOLUMES, selector, required=False),
            )
        return to_core_vms(vms, vmis, data_volumes)

    async def _list_custom(
        self, api: tuple[str, str], plural: str, selector: str, *, required: bool
    ) -> builtins.list[JsonDict]:
        group, version = api
        try:
            return await self._paginate(
                self._custom.list_namespaced_custom_object,
                group,
                version,
                self.namespace,
                plural,
                label_selector=selector,
            )
        except ApiException as exc:
            if _status(exc) != 404:
                raise
            if required:
                raise NotReady(
                    f"the KubeVirt API ({group}/{version} {plural}) is not installed"
                ) from exc
            return []  # CDI is optional when every image is a containerDisk

    async def _paginate(
        self, func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
    ) -> builtins.list[JsonDict]:
        items: builtins.list[JsonDict] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = await call_json(func, *args, limit=self._page_size, _continue=token, **kwargs)
            page_items = page.get("items")
            if isinstance(page_items, builtins.list):
                items.extend(item for item in page_items if isinstance(item, dict))
            metadata = page.get("metadata")
            token = metadata.get("continue") if isinstance(metadata, dict) else None
            if not isinstance(token, str) or not token or token in seen:
                return items
            seen.add(token)

    # hosts -----------------------------------------------------------------------------------
    async def hosts(self) -> builtins.list[Host]:
        async with api_errors("list bare-metal hosts"):
            nodes, pods = await asyncio.gather(
                self._paginate(self._core.list_node, label_selector=f"{SCHEDULABLE_LABEL}=true"),
                self._paginate(
                    self._core.list_pod_for_all_namespaces, field_selector=NON_TERMINAL_PODS
                ),
            )
        listing = hosts_from(nodes, pods)
        for problem in listing.problems:
            log.warning("host capacity: skipped %s", problem)
        return listing.hosts
