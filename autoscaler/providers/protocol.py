"""The VM provider protocol: the only way the controller touches VMs and bare-metal hosts."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.api.policy import ImageSource, Shape
from autoscaler.core.model import Host, VirtualMachine


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """One VM to create. ``name`` is deterministic (``api.naming.vm_name``), which makes
    launching idempotent; ``user_data`` is the complete cloud-init document for the VM."""

    name: str
    tenant: str
    pool: str
    shape: Shape
    image: ImageSource
    user_data: str
    host: str | None = None  # the host the plan packed the VM onto; a hint unless pinned
    # Zone and region labels the VM's host must carry (the zone the plan put it in).
    zone_labels: Mapping[str, str] = field(default_factory=dict)
    replaces: tuple[str, ...] = ()  # nodes this VM replaces (consolidation), recorded on it

    def __repr__(self) -> str:
        # user_data holds a bootstrap token: keep it out of logs and tracebacks.
        return (
            f"LaunchRequest(name={self.name!r}, tenant={self.tenant!r}, pool={self.pool!r}, "
            f"shape={self.shape}, image={self.image.name!r}, host={self.host!r}, "
            f"zone_labels={dict(self.zone_labels)!r})"
        )


class VMProvider(Protocol):
    """A backend that runs a tenant's worker VMs.

    Contract, which every implementation keeps and the controller relies on:

    ``launch(request)``
        Creates the VM and whatever it needs (its user-data Secret) and returns once the
        backend has accepted it; it does not wait for the VM to boot. Idempotent on
        ``request.name``: if a VM of that name already exists and is ours (same tenant, made
        by the autoscaler) the call succeeds without changing it; if it belongs to someone
        else it raises a non-retryable :class:`ProviderError`. A backend that knows at once
        that no host has room raises :class:`InsufficientHostCapacity`; one that only learns
        it later reports the VM as ``PENDING`` with a reason instead.
    ``delete(name)``
        Starts deleting the VM and its Secret and returns; idempotent until the VM is gone:
        a VM that does not exist (or is already being deleted) is success, never an error.
    ``list(tenant)``
        Every VM the autoscaler made for ``tenant``, including ones still being created or
        deleted, with ``phase`` (and ``reason``) derived from the backend's status, the
        ``host`` it runs on once scheduled, and ``phase_since``. ``node_name`` is left None:
        the tenant Node is matched by the caller through ``providerID kubevirt://<vm>``.
    ``hosts()``
        The bare-metal hosts that can run VMs, each with its allocatable cpu and memory and
        what is already allocated there (requests of the pods on it, VMs included).

    Errors are :class:`ProviderError` or a subclass (:class:`VMNotFound`,
    :class:`InsufficientHostCapacity`, :class:`NotReady`); ``retryable`` tells whether the
    same call may succeed later. Nothing else escapes a provider call, except cancellation.
    """

    async def launch(self, request: LaunchRequest) -> None: ...

    async def delete(self, name: str) -> None: ...

    async def list(self, tenant: str) -> builtins.list[VirtualMachine]: ...

    async def hosts(self) -> builtins.list[Host]: ...
