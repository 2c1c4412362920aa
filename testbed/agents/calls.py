"""API calls as the agents make them: plain JSON dicts, retried while the server throttles or
is unavailable, with "already exists" and "not found" answered as None where asked."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Final

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi, StorageV1Api

from autoscaler.kube import errors
from autoscaler.kube.backoff import RetryBackoff
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

STRATEGIC_MERGE_PATCH: Final = "application/strategic-merge-patch+json"
KUBEVIRT: Final = ("kubevirt.io", "v1")
CDI: Final = ("cdi.kubevirt.io", "v1beta1")
VMS: Final = "virtualmachines"
VMIS: Final = "virtualmachineinstances"
DATA_VOLUMES: Final = "datavolumes"

JsonDict = dict[str, Any]


class AgentCallError(RuntimeError):
    """An API call failed in a way retrying will not fix; the message names the call."""


class Cluster:
    """One API server as an agent talks to it."""

    def __init__(
        self,
        client: ApiClient,
        name: str,
        *,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.core = CoreV1Api(client)
        self.custom = CustomObjectsApi(client)
        self.storage = StorageV1Api(client)
        self._backoff = (backoff_base, backoff_cap)
        self._rng = rng or random.Random(0)

    async def call(
        self,
        func: Callable[..., Awaitable[Any]],
        *args: Any,
        what: str,
        missing_ok: bool = False,
        exists_ok: bool = False,
        **kwargs: Any,
    ) -> JsonDict | None:
        """``func(*args, **kwargs)`` as JSON. None when the object is missing (404) and
        ``missing_ok``, or exists already (409) and ``exists_ok``; retryable failures are
        retried until they succeed or the caller is cancelled."""
        backoff = RetryBackoff(*self._backoff, self._rng)
        while True:
            try:
                return await call_json(func, *args, **kwargs)
            except Exception as exc:
                if not errors.is_api_error(exc):
                    raise
                if missing_ok and errors.is_not_found(exc):
                    return None
                if exists_ok and errors.is_conflict(exc):
                    return None
                if not errors.is_retryable(exc):
                    message = f"{self.name}: {what}: {errors.status_message(exc)}"
                    raise AgentCallError(message) from exc
                delay = backoff.next()
                log.debug("%s: %s failed (%s), retrying", self.name, what, exc)
                await asyncio.sleep(delay)

    async def require(
        self, func: Callable[..., Awaitable[Any]], *args: Any, what: str, **kwargs: Any
    ) -> JsonDict:
        """:meth:`call` for calls whose answer must be an object."""
        result = await self.call(func, *args, what=what, **kwargs)
        if result is None:  # only reachable when the flags above were passed
            raise AgentCallError(f"{self.name}: {what}: no object returned")
        return result
