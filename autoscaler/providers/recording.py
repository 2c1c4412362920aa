"""An in-memory provider that keeps the protocol's contract and records every call (for tests)."""

from __future__ import annotations

import builtins
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from autoscaler.core.model import Host, VirtualMachine, VMPhase
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import LaunchRequest


@dataclass(frozen=True, slots=True)
class Call:
    operation: str  # launch, delete, list, hosts
    argument: Any = None  # the LaunchRequest, VM name or tenant; None for hosts


class RecordingProvider:
    """VMs live in a dict; tests move them through phases with :meth:`set_phase`.

    ``fail(operation, error)`` queues an error that the next call of that operation raises
    (before it has any effect), so tests can exercise the caller's error handling. With
    ``instant_delete=False`` a deleted VM stays listed as DELETING until :meth:`finish_delete`.
    """

    def __init__(
        self,
        hosts: Iterable[Host] = (),
        clock: Callable[[], float] = lambda: 0.0,
        instant_delete: bool = True,
    ) -> None:
        self._instant_delete = instant_delete
        self.calls: list[Call] = []
        self.vms: dict[str, VirtualMachine] = {}
        self.requests: dict[str, LaunchRequest] = {}
        self.host_list: list[Host] = list(hosts)
        self._clock = clock
        self._failures: dict[str, deque[ProviderError]] = {}

    # Test controls ---------------------------------------------------------------------------
    def fail(self, operation: str, error: ProviderError) -> None:
        self._failures.setdefault(operation, deque()).append(error)

    def set_phase(self, name: str, phase: VMPhase, *, reason: str = "", **changes: Any) -> None:
        vm = self.vms[name]
        self.vms[name] = replace(
            vm, phase=phase, phase_since=self._clock(), reason=reason, **changes
        )

    def finish_delete(self, name: str) -> None:
        self.vms.pop(name, None)
        self.requests.pop(name, None)

    def operations(self) -> builtins.list[str]:
        return [call.operation for call in self.calls]

    def _record(self, operation: str, argument: Any = None) -> None:
        self.calls.append(Call(operation, argument))
        queued = self._failures.get(operation)
        if queued:
            raise queued.popleft()

    # VMProvider ------------------------------------------------------------------------------
    async def launch(self, request: LaunchRequest) -> None:
        self._record("launch", request)
        existing = self.requests.get(request.name)
        if existing is not None:
            if existing.tenant != request.tenant:
                raise ProviderError(
                    f"VM {request.name} exists and belongs to tenant {existing.tenant}"
                )
            return
        now = self._clock()
        self.requests[request.name] = request
        self.vms[request.name] = VirtualMachine(
            name=request.name,
            pool=request.pool,
            shape=request.shape,
            image_hash=request.image.digest,
            created=now,
            phase=VMPhase.PENDING,
            phase_since=now,
        )

    async def delete(self, name: str) -> None:
        self._record("delete", name)
        vm = self.vms.get(name)
        if vm is None:
            return
        if self._instant_delete:
            self.finish_delete(name)
        elif vm.phase is not VMPhase.DELETING:
            self.set_phase(name, VMPhase.DELETING)

    async def list(self, tenant: str) -> builtins.list[VirtualMachine]:
        self._record("list", tenant)
        return [vm for name, vm in sorted(self.vms.items()) if self.requests[name].tenant == tenant]

    async def hosts(self) -> builtins.list[Host]:
        self._record("hosts")
        return builtins.list(self.host_list)
