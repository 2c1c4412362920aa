from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client, config

from testbed.apiserver import FakeApiServer
from testbed.apiserver.crds import KUBEVIRT_CRDS

CRD_FILES = ("kubevirt-virtualmachine", "kubevirt-virtualmachineinstance", "cdi-datavolume")


@pytest.fixture
def kubevirt_crds() -> list[Path]:
    files = [KUBEVIRT_CRDS / f"{name}-crd.yaml" for name in CRD_FILES]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        pytest.skip(f"KubeVirt CRDs are not available: {', '.join(missing)}")
    return files


@pytest.fixture
async def management_server(kubevirt_crds: list[Path]) -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(crds=kubevirt_crds, bookmark_interval=0.2, seed=1) as server:
        server.registry.create(
            server.registry.find("namespaces"), None, {"metadata": {"name": "vms"}}
        )
        yield server


@pytest.fixture
async def tenant_server() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(bookmark_interval=0.2, seed=2) as server:
        yield server


@pytest.fixture
async def management(management_server: FakeApiServer) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config_dict(management_server.kubeconfig())
    async with api:
        yield api


@pytest.fixture
async def tenant(tenant_server: FakeApiServer) -> AsyncIterator[client.ApiClient]:
    api = await config.new_client_from_config_dict(tenant_server.kubeconfig())
    async with api:
        yield api
