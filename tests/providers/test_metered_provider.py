from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from prometheus_client import CollectorRegistry
from provider_contract import CONTRACT, request

from autoscaler.providers.errors import (
    InsufficientHostCapacity,
    NotReady,
    ProviderError,
    VMNotFound,
)
from autoscaler.providers.metered import MeteredProvider, result_label
from autoscaler.providers.protocol import VMProvider
from autoscaler.providers.recording import RecordingProvider


class SteppingClock:
    """Each reading is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def calls(registry: CollectorRegistry, operation: str, result: str) -> float:
    value = registry.get_sample_value(
        "kvpool_provider_calls_total", {"operation": operation, "result": result}
    )
    return value or 0.0


@pytest.mark.parametrize("check", CONTRACT, ids=lambda c: c.__name__)
async def test_metered_provider_keeps_the_contract(
    check: Callable[[VMProvider], Awaitable[None]],
) -> None:
    await check(MeteredProvider(RecordingProvider(), CollectorRegistry()))


async def test_successes_and_errors_are_counted_by_operation() -> None:
    registry = CollectorRegistry()
    inner = RecordingProvider()
    provider = MeteredProvider(inner, registry)
    await provider.launch(request())
    await provider.list("team-a")
    await provider.list("team-a")
    inner.fail("delete", NotReady("KubeVirt API missing"))
    with pytest.raises(NotReady):
        await provider.delete("x")
    assert calls(registry, "launch", "success") == 1
    assert calls(registry, "list", "success") == 2
    assert calls(registry, "delete", "not_ready") == 1
    assert calls(registry, "delete", "success") == 0


async def test_durations_are_observed_on_the_injected_clock() -> None:
    registry = CollectorRegistry()
    provider = MeteredProvider(RecordingProvider(), registry, clock=SteppingClock(0.25))
    await provider.hosts()
    await provider.hosts()
    labels = {"operation": "hosts"}
    assert registry.get_sample_value("kvpool_provider_call_seconds_count", labels) == 2
    assert registry.get_sample_value("kvpool_provider_call_seconds_sum", labels) == 0.5


async def test_failed_calls_are_timed_too() -> None:
    registry = CollectorRegistry()
    inner = RecordingProvider()
    inner.fail("hosts", ProviderError("boom", retryable=True))
    provider = MeteredProvider(inner, registry, clock=SteppingClock(1.0))
    with pytest.raises(ProviderError):
        await provider.hosts()
    labels = {"operation": "hosts"}
    assert registry.get_sample_value("kvpool_provider_call_seconds_count", labels) == 1
    assert calls(registry, "hosts", "retryable_error") == 1


async def test_several_providers_share_one_registry() -> None:
    registry = CollectorRegistry()
    first = MeteredProvider(RecordingProvider(), registry)
    second = MeteredProvider(RecordingProvider(), registry)
    await first.list("a")
    await second.list("b")
    assert calls(registry, "list", "success") == 2


async def test_results_come_from_the_inner_provider_unchanged() -> None:
    inner = RecordingProvider()
    provider = MeteredProvider(inner, CollectorRegistry())
    await provider.launch(request())
    assert await provider.list("team-a") == await inner.list("team-a")


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (VMNotFound("vm-1"), "not_found"),
        (InsufficientHostCapacity("full"), "insufficient_capacity"),
        (NotReady("syncing"), "not_ready"),
        (ProviderError("bad", retryable=False), "error"),
        (ProviderError("later", retryable=True), "retryable_error"),
        (RuntimeError("bug"), "unexpected_error"),
    ],
)
def test_result_labels_form_a_closed_set(error: Exception, label: str) -> None:
    assert result_label(error) == label
