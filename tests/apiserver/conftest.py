from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from apiserver_helpers import widget_crd
from kubernetes_asyncio import client, config

from testbed.apiserver import FakeApiServer, load_crds
from testbed.apiserver.crds import KUBEVIRT_CRDS

VM_CRD_FILE = KUBEVIRT_CRDS / "kubevirt-virtualmachine-crd.yaml"


@functools.cache
def _vm_crd() -> dict[str, Any]:
    return load_crds(VM_CRD_FILE)[0]


@pytest.fixture
def vm_crd() -> dict[str, Any]:
    if not VM_CRD_FILE.exists():
        pytest.skip(f"{VM_CRD_FILE} is not available")
    return _vm_crd()


@pytest.fixture
def vm_schema(vm_crd: dict[str, Any]) -> dict[str, Any]:
    version = next(v for v in vm_crd["spec"]["versions"] if v["name"] == "v1")
    return version["schema"]["openAPIV3Schema"]


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    crds = [widget_crd(), widget_crd("Cluster", "gadgets", "Gadget")]
    async with FakeApiServer(crds=crds, bookmark_interval=0.05, history_size=50, seed=1) as fake:
        yield fake


@pytest.fixture
async def api(server: FakeApiServer) -> AsyncIterator[client.ApiClient]:
    api_client = await config.new_client_from_config_dict(server.kubeconfig())
    async with api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)
