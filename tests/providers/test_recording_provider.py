from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from provider_contract import CONTRACT, request

from autoscaler.api.resources import Resources
from autoscaler.core.model import Host, VMPhase
from autoscaler.providers.errors import InsufficientHostCapacity, ProviderError
from autoscaler.providers.protocol import VMProvider
from autoscaler.providers.recording import Call, RecordingProvider


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_recording_provider_keeps_the_contract(
    check: Callable[[VMProvider], Awaitable[None]],
) -> None:
    await check(RecordingProvider())


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_recording_provider_with_slow_deletion_keeps_the_contract(
    check: Callable[[VMProvider], Awaitable[None]],
) -> None:
    await check(RecordingProvider(instant_delete=False))


async def test_every_call_is_recorded() -> None:
    provider = RecordingProvider()
    req = request()
    await provider.launch(req)
    await provider.list("team-a")
    await provider.hosts()
    await provider.delete(req.name)
    assert provider.calls == [
        Call("launch", req),
        Call("list", "team-a"),
        Call("hosts"),
        Call("delete", req.name),
    ]


async def test_queued_failure_is_raised_once_and_has_no_effect() -> None:
    provider = RecordingProvider()
    provider.fail("launch", InsufficientHostCapacity("no host has 4 cpus free"))
    with pytest.raises(InsufficientHostCapacity) as caught:
        await provider.launch(request())
    assert caught.value.retryable
    assert await provider.list("team-a") == []
    await provider.launch(request())
    assert len(await provider.list("team-a")) == 1


async def test_phases_move_on_the_injected_clock() -> None:
    now = [100.0]
    provider = RecordingProvider(clock=lambda: now[0])
    req = request()
    await provider.launch(req)
    now[0] = 130.0
    provider.set_phase(req.name, VMPhase.RUNNING, host="metal-2")
    (vm,) = await provider.list("team-a")
    assert (vm.created, vm.phase, vm.phase_since, vm.host) == (
        100.0,
        VMPhase.RUNNING,
        130.0,
        "metal-2",
    )


async def test_slow_deletion_lists_the_vm_as_deleting_until_finished() -> None:
    provider = RecordingProvider(instant_delete=False)
    req = request()
    await provider.launch(req)
    await provider.delete(req.name)
    (vm,) = await provider.list("team-a")
    assert vm.phase is VMPhase.DELETING
    provider.finish_delete(req.name)
    assert await provider.list("team-a") == []


async def test_hosts_are_returned_as_configured() -> None:
    host = Host("metal-1", Resources.of(cpu=64_000, memory=256 * 2**30))
    provider = RecordingProvider(hosts=[host])
    assert await provider.hosts() == [host]


async def test_launch_and_delete_errors_are_provider_errors() -> None:
    provider = RecordingProvider()
    provider.fail("delete", ProviderError("backend down", retryable=True))
    with pytest.raises(ProviderError, match="backend down"):
        await provider.delete("x")
    assert provider.operations() == ["delete"]
