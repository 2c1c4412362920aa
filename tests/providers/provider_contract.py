"""The VMProvider contract as executable checks, shared by the tests of every provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from autoscaler.api.naming import vm_name
from autoscaler.api.policy import ImageSource, Shape
from autoscaler.core.model import VMPhase
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import LaunchRequest, VMProvider

GIB = 2**30
IMAGE = ImageSource("k8s-1.31", container_disk="registry.example/k8s-worker:v1.31.2")


def request(tenant: str = "team-a", key: str = "k1", pool: str = "general") -> LaunchRequest:
    return LaunchRequest(
        name=vm_name(tenant, pool, key),
        tenant=tenant,
        pool=pool,
        shape=Shape(4000, 8 * GIB),
        image=IMAGE,
        user_data="#cloud-config\n",
        host="metal-1",
    )


async def launched_vm_is_listed(provider: VMProvider) -> None:
    req = request()
    await provider.launch(req)
    (vm,) = await provider.list("team-a")
    assert vm.name == req.name
    assert vm.pool == "general"
    assert vm.shape == req.shape
    assert vm.image_hash == IMAGE.digest
    assert vm.phase in (VMPhase.PENDING, VMPhase.PROVISIONING)


async def launch_is_idempotent(provider: VMProvider) -> None:
    req = request()
    await provider.launch(req)
    await provider.launch(req)
    assert [vm.name for vm in await provider.list("team-a")] == [req.name]


async def name_of_another_tenant_is_refused(provider: VMProvider) -> None:
    mine = request()
    await provider.launch(mine)
    theirs = LaunchRequest(
        mine.name, "team-b", mine.pool, mine.shape, mine.image, mine.user_data, mine.host
    )
    with pytest.raises(ProviderError) as caught:
        await provider.launch(theirs)
    assert not caught.value.retryable
    assert await provider.list("team-b") == []


async def list_is_per_tenant(provider: VMProvider) -> None:
    await provider.launch(request("team-a", "k1"))
    await provider.launch(request("team-a", "k2"))
    await provider.launch(request("team-b", "k1"))
    assert len(await provider.list("team-a")) == 2
    assert [vm.name for vm in await provider.list("team-b")] == [request("team-b", "k1").name]
    assert await provider.list("team-c") == []


async def delete_is_idempotent(provider: VMProvider) -> None:
    req = request()
    await provider.launch(req)
    await provider.delete(req.name)
    await provider.delete(req.name)
    await provider.delete("never-existed")
    remaining = await provider.list("team-a")
    assert all(vm.phase is VMPhase.DELETING for vm in remaining)


CONTRACT: tuple[Callable[[VMProvider], Awaitable[None]], ...] = (
    launched_vm_is_listed,
    launch_is_idempotent,
    name_of_another_tenant_is_refused,
    list_is_per_tenant,
    delete_is_idempotent,
)
