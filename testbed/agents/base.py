"""What every agent shares: its API clients, caches and background tasks, start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from kubernetes_asyncio.client import ApiClient

from autoscaler.kube.clients import management_client
from autoscaler.kube.informer import Handler, Informer, InformerSettings, ListFunc, Transform

log = logging.getLogger(__name__)

T = TypeVar("T")

ClientSource = ApiClient | str | os.PathLike[str]
"""A ready ApiClient (the caller closes it) or a kubeconfig path (the agent opens and closes)."""

AGENT_INFORMER_SETTINGS = InformerSettings(
    watch_timeout_seconds=120, inactivity_timeout=60.0, backoff_base=0.2, backoff_max=5.0
)


class AgentError(RuntimeError):
    """An agent that cannot start: a kubeconfig it cannot use or a server it cannot reach."""


def _existing_file(source: str | os.PathLike[str], what: str) -> str:
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise AgentError(f"{what} {path} does not exist")
    return path


class Agent:
    """Subclasses create clients and caches in ``_setup`` and start loops in ``_run``;
    ``start`` returns once every cache has synced."""

    kind = "agent"

    def __init__(self, *, sync_timeout: float = 30.0) -> None:
        self.sync_timeout = sync_timeout
        self._informers: list[Informer[Any]] = []
        self._owned_clients: list[ApiClient] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False

    # Lifecycle ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running

    async def start(self) -> None:
        if self._running:
            return
        self._running = True
        try:
            await self._setup()
            for informer in self._informers:
                informer.start()
            try:
                async with asyncio.timeout(self.sync_timeout):
                    for informer in self._informers:
                        await informer.has_synced()
            except TimeoutError:
                problems = "; ".join(
                    f"{i.name}: {i.last_error}" for i in self._informers if i.last_error
                )
                raise AgentError(
                    f"{self.kind}: caches did not sync within {self.sync_timeout:g}s"
                    + (f" ({problems})" if problems else "")
                ) from None
            self._run()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for informer in self._informers:
            await informer.stop()
        self._informers.clear()
        clients, self._owned_clients = self._owned_clients, []
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        self._running = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # For subclasses ---------------------------------------------------------------------------
    async def _setup(self) -> None:
        """Create clients and informers (with :meth:`_client` and :meth:`_informer`)."""

    def _run(self) -> None:
        """Start the agent's loops (with :meth:`_spawn`); the caches have synced."""

    async def _client(self, source: ClientSource) -> ApiClient:
        if isinstance(source, ApiClient):
            return source
        path = _existing_file(source, f"{self.kind}: kubeconfig")
        try:
            client = await management_client(path)
        except ValueError as error:
            raise AgentError(f"{self.kind}: {error}") from error
        self._owned_clients.append(client)
        return client

    def _informer(
        self,
        name: str,
        list_func: ListFunc,
        transform: Transform[T],
        handler: Handler[T] | None = None,
        list_kwargs: Mapping[str, Any] | None = None,
    ) -> Informer[T]:
        informer: Informer[T] = Informer(
            f"{self.kind} {name}",
            list_func,
            transform,
            list_kwargs=list_kwargs,
            settings=AGENT_INFORMER_SETTINGS,
        )
        if handler is not None:
            informer.add_handler(handler)
        self._informers.append(informer)
        return informer

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A background task that is cancelled by :meth:`stop` and logs its failure."""
        task = asyncio.create_task(coro, name=f"{self.kind}: {name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed: %s", task.get_name(), task.exception(), exc_info=task.exception())
