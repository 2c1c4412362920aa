"""Typed errors of a VM provider; every one says whether trying again may help."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider call failed. ``retryable`` is True when the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class VMNotFound(ProviderError):
    """The named VM does not exist (``delete`` never raises it: not found is success there)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"VM {name} not found", retryable=False)
        self.name = name


class InsufficientHostCapacity(ProviderError):
    """No bare-metal host has room for the VM now; retry after capacity frees up."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class NotReady(ProviderError):
    """The backend cannot take requests yet (API missing, namespace absent, caches syncing)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)
