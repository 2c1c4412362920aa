"""A decorator that adds Prometheus metrics to any VM provider."""

from __future__ import annotations

import builtins
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from autoscaler.core.model import Host, VirtualMachine
from autoscaler.providers.errors import (
    InsufficientHostCapacity,
    NotReady,
    ProviderError,
    VMNotFound,
)
from autoscaler.providers.protocol import LaunchRequest, VMProvider

T = TypeVar("T")

SUCCESS = "success"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class ProviderMetrics:
    calls: Counter
    seconds: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry) -> ProviderMetrics:
        return cls(
            calls=Counter(
                "kvpool_provider_calls",
                "VM provider calls by operation and result",
                ["operation", "result"],
                registry=registry,
            ),
            seconds=Histogram(
                "kvpool_provider_call_seconds",
                "Duration of VM provider calls",
                ["operation"],
                buckets=BUCKETS,
                registry=registry,
            ),
        )


# Every provider (one per tenant) wrapped on the same registry shares the same collectors,
# since a registry refuses a second collector of the same name.
_metrics: weakref.WeakKeyDictionary[CollectorRegistry, ProviderMetrics] = (
    weakref.WeakKeyDictionary()
)


def provider_metrics(registry: CollectorRegistry) -> ProviderMetrics:
    metrics = _metrics.get(registry)
    if metrics is None:
        metrics = _metrics[registry] = ProviderMetrics.create(registry)
    return metrics


def result_label(error: BaseException) -> str:
    """A closed set of metric label values for the ways a call can fail."""
    if isinstance(error, VMNotFound):
        return "not_found"
    if isinstance(error, InsufficientHostCapacity):
        return "insufficient_capacity"
    if isinstance(error, NotReady):
        return "not_ready"
    if isinstance(error, ProviderError):
        return "retryable_error" if error.retryable else "error"
    return "unexpected_error"


class MeteredProvider:
    """Wraps ``inner`` and counts every call, its result and its duration."""

    def __init__(
        self,
        inner: VMProvider,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.inner = inner
        self._metrics = provider_metrics(registry)
        self._clock = clock

    async def _measure(self, operation: str, call: Awaitable[T]) -> T:
        start = self._clock()
        try:
            result = await call
        except Exception as error:
            self._metrics.calls.labels(operation, result_label(error)).inc()
            raise
        finally:
            self._metrics.seconds.labels(operation).observe(max(0.0, self._clock() - start))
        self._metrics.calls.labels(operation, SUCCESS).inc()
        return result

    async def launch(self, request: LaunchRequest) -> None:
        await self._measure("launch", self.inner.launch(request))

    async def delete(self, name: str) -> None:
        await self._measure("delete", self.inner.delete(name))

    async def list(self, tenant: str) -> builtins.list[VirtualMachine]:
        return await self._measure("list", self.inner.list(tenant))

    async def hosts(self) -> builtins.list[Host]:
        return await self._measure("hosts", self.inner.hosts())
