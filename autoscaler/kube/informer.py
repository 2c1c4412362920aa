"""A list+watch cache of one resource, holding a compact converted value per object.

The loop: list in pages (raw JSON, no model objects), then watch from the list's
resourceVersion with bookmarks, remembering the version of every event. A stream that the
server ends resumes from the last version; ``410 Gone`` (as a status or an ERROR event) re-lists
and replaces the cache; other failures back off with jitter. ``kubernetes_asyncio``'s own
``Watch`` is not used: it retries 410 once with the stale version and then raises, and it builds
a model object per event.

Fresh or nothing: every list page has a total timeout and every watch a connect timeout, and a
watch that delivers no line (event or bookmark) within the inactivity window, including one
whose response never starts, is torn down and the cache re-listed. The cache is :attr:`fresh`
only while it heard from the server within that window and no failure or silence is pending:
after a silence it stays stale until a new watch delivers a line, so a watch that hangs again
after every re-list never makes the cache look fresh. The API server sends bookmarks about once a
minute to a watch that asked for them (``allowWatchBookmarks``), so a healthy quiet cluster is
never silent for a whole window.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from autoscaler.kube import errors
from autoscaler.kube.backoff import RetryBackoff
from autoscaler.kube.convert_reader import object_name
from autoscaler.kube.tasks import cancel_and_wait
from autoscaler.rawjson import RequestTimeouts, api_exception, parse_json_object, read_response

log = logging.getLogger(__name__)

T = TypeVar("T")

ListFunc = Callable[..., Awaitable[Any]]
Transform = Callable[[dict[str, Any]], T]


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


Handler = Callable[[EventType, str, T], None]
"""Called after the cache changed, with the new value (the last value for DELETED)."""


@dataclass(frozen=True, slots=True)
class InformerSettings:
    page_size: int = 500
    # Server-side timeout of one watch request; each request draws from [t, 2t) like client-go.
    watch_timeout_seconds: int = 300
    # Re-list when nothing (not even a bookmark) arrived for this long; also how long the cache
    # stays fresh without news.
    inactivity_timeout: float = 180.0
    list_timeout: float = 120.0  # per page
    connect_timeout: float = 10.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0


def object_key(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ValueError("object without metadata.name")
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def _resource_version(obj: Any) -> str | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    version = meta.get("resourceVersion") if isinstance(meta, dict) else None
    return version if isinstance(version, str) and version else None


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Postpone the cyclic garbage collector during one synchronous burst of allocations.

    Parsing and converting a page allocates tens of thousands of acyclic containers; with a
    large cache already alive every collection they trigger walks the whole heap, which
    doubled the time of a 20k-pod list. Nothing is awaited inside, so no other task runs
    while the collector is off, and it catches up afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Gone(Exception):
    """The resourceVersion we hold is too old: the cache must be rebuilt from a list."""


class _StreamError(Exception):
    """The watch stream sent something that is not a watch event."""


class _Silent(Exception):
    """The watch delivered nothing within the inactivity window (or never started)."""


class Informer(Generic[T]):
    """Keeps ``transform(object)`` for every object that ``list_func`` lists and watches.

    ``list_func`` is any generated list method, with the positional arguments bound, e.g.
    ``functools.partial(CustomObjectsApi(c).list_cluster_custom_object, group, ver, plural)``;
    ``list_kwargs`` go to every list and watch request (label or field selectors).
    """

    def __init__(
        self,
        name: str,
        list_func: ListFunc,
        transform: Transform[T],
        *,
        cluster: str = "",
        list_kwargs: Mapping[str, Any] | None = None,
        settings: InformerSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self.cluster = cluster
        self._list_func = list_func
        self._transform = transform
        self._list_kwargs = dict(list_kwargs or {})
        self._settings = settings or InformerSettings()
        self._rng = rng or random.Random()
        self._items: dict[str, T] = {}
        self._handlers: list[Handler[T]] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._snapshot: tuple[int, tuple[T, ...]] | None = None
        # Key -> resourceVersion of objects whose unreadable fields were already logged.
        self._reported: dict[str, str | None] = {}
        self.version = 0  # changes whenever the cache's content changes
        self.resource_version: str | None = None
        self.lists = 0  # how many full lists were made (the first one and every re-list)
        self.watches = 0  # how many watch requests were opened
        self.last_error: str | None = None
        self.silences = 0  # how many watches were torn down for saying nothing
        self._heard_at: float | None = None  # loop time of the last list or watch line
        self._recovering = False  # a silence happened and no watch has delivered since

    # Freshness ----------------------------------------------------------------------------
    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def silence(self) -> float | None:
        """Seconds since the cache last heard from the server (None before the first list)."""
        return None if self._heard_at is None else max(0.0, self._now() - self._heard_at)

    @property
    def fresh(self) -> bool:
        return self.staleness() is None

    def staleness(self) -> str | None:
        """Why the cache may be out of date, or None while it is fresh."""
        quiet = self.silence()
        window = self._settings.inactivity_timeout
        if quiet is None:
            return "not listed yet"
        if quiet > window:
            return f"nothing heard for {quiet:.1f}s (window {window:g}s)"
        if self._recovering:
            return (
                f"its watch went silent; re-listed {quiet:.1f}s ago, no watch has delivered since"
            )
        return None

    # Reading ------------------------------------------------------------------------------
    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def has_synced(self) -> bool:
        """Wait until the first list is in the cache (bound it with ``asyncio.timeout``)."""
        await self._synced.wait()
        return True

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def keys(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def snapshot(self) -> tuple[T, ...]:
        """Every value, as one immutable tuple (cached until the cache changes)."""
        if self._snapshot is None or self._snapshot[0] != self.version:
            self._snapshot = (self.version, tuple(self._items.values()))
        return self._snapshot[1]

    def add_handler(self, handler: Handler[T]) -> None:
        self._handlers.append(handler)

    # Running ------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"informer {self.name}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def run(self) -> None:
        """List and watch until cancelled; never returns otherwise."""
        backoff = RetryBackoff(self._settings.backoff_base, self._settings.backoff_max, self._rng)
        must_list = True
        while True:
            try:
                if must_list:
                    await self._list()
                    must_list = False
                    backoff.reset()
                started = time.monotonic()
                received = await self._watch()
                quiet = self.silence() or 0.0
                if quiet > self._settings.inactivity_timeout:
                    # Streams that end without a line, one after the other, are a silence too.
                    raise _Silent(f"watches delivered nothing for {quiet:.1f}s")
                if received:
                    backoff.reset()
                elif time.monotonic() - started < 1.0:
                    # A server that closes every watch at once must not make us spin.
                    await asyncio.sleep(backoff.next())
            except Exception as exc:
                if isinstance(exc, _Silent):
                    self.silences += 1
                    self._recovering = True
                    log.warning("%s: %s; re-listing", self.name, exc)
                    must_list = True
                    continue  # the silence itself was the wait
                if isinstance(exc, _Gone) or errors.is_gone(exc):
                    log.info("%s: version %s expired, re-listing", self.name, self.resource_version)
                    must_list = True
                elif isinstance(exc, _StreamError) or errors.is_api_error(exc):
                    self.last_error = errors.status_message(exc)
                    verb = "list" if must_list else "watch"
                    if not isinstance(exc, _StreamError):
                        errors.report_api_error(self.cluster, verb, exc)
                    log.warning("%s: %s failed: %s", self.name, verb, self.last_error)
                elif isinstance(exc, TimeoutError):
                    verb = "list" if must_list else "watch"
                    self.last_error = f"{verb} got no answer in time"
                    log.warning("%s: %s", self.name, self.last_error)
                else:
                    self.last_error = errors.status_message(exc)
                    log.exception("%s: unexpected failure", self.name)
                # Also after 410: a server that keeps answering Gone must not make us spin.
                await asyncio.sleep(backoff.next())

    # Listing ------------------------------------------------------------------------------
    async def _list(self) -> None:
        items: dict[str, T] = {}
        token: str | None = None
        version: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                **self._list_kwargs,
                "limit": self._settings.page_size,
                "_request_timeout": self._timeouts().request(),
            }
            if token:
                kwargs["_continue"] = token
            response = await self._list_func(_preload_content=False, **kwargs)
            page = await read_response(response)
            with _gc_paused():
                meta = self._take_page(page, items)
            token = meta.get("continue") or None
            version = meta.get("resourceVersion") or version
            if not token:
                break
        self.lists += 1
        self._replace(items, version)

    def _timeouts(self) -> RequestTimeouts:
        settings = self._settings
        return RequestTimeouts(connect=settings.connect_timeout, total=settings.list_timeout)

    def _take_page(self, page: bytes, items: dict[str, T]) -> dict[str, Any]:
        """Convert one page of a list into ``items``; returns the list's metadata."""
        body = parse_json_object(page, self.name)
        raw_items = body.get("items") or []
        if not isinstance(raw_items, list):
            raise api_exception(0, f"{self.name}: the list response has no items list")
        for raw in raw_items:
            converted = self._convert(raw)
            if converted is not None:
                items[converted[0]] = converted[1]
        meta = body.get("metadata")
        return meta if isinstance(meta, dict) else {}

    def _replace(self, items: dict[str, T], version: str | None) -> None:
        old = self._items
        self._items = items
        self.resource_version = version
        changes: list[tuple[EventType, str, T]] = [
            (EventType.DELETED, key, value) for key, value in old.items() if key not in items
        ]
        for key, value in items.items():
            previous = old.get(key)
            if previous is None:
                changes.append((EventType.ADDED, key, value))
            elif previous != value:
                changes.append((EventType.MODIFIED, key, value))
        if changes or not self.synced:
            self.version += 1
        self.last_error = None
        self._heard_at = self._now()
        self._synced.set()
        for change in changes:
            self._notify(*change)

    # Watching -----------------------------------------------------------------------------
    async def _watch(self) -> bool:
        """One watch request; True when it delivered at least one line.

        Raises :class:`_Silent` when the response did not start, or no line came, within the
        inactivity window.
        """
        settings = self._settings
        window = settings.inactivity_timeout
        timeout = settings.watch_timeout_seconds
        kwargs: dict[str, Any] = {
            **self._list_kwargs,
            "watch": True,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self._rng.randint(timeout, 2 * timeout - 1) if timeout > 1 else 1,
            "_preload_content": False,
            # The server ends the request; the client bounds connecting, and the silences below.
            "_request_timeout": self._timeouts().stream(),
        }
        if self.resource_version:
            kwargs["resource_version"] = self.resource_version
        self.watches += 1
        try:
            async with asyncio.timeout(window):
                response = await self._list_func(**kwargs)
        except TimeoutError:
            raise _Silent(f"watch did not start within {window:g}s") from None
        received = False
        try:
            if response.status != 200:
                await read_response(response)  # raises with the status
            while True:
                # asyncio.timeout, unlike wait_for on Python 3.11, never swallows a
                # cancellation that races with the read finishing, so stop() cannot hang.
                try:
                    async with asyncio.timeout(window):
                        line = await response.content.readline()
                except TimeoutError:
                    raise _Silent(f"watch delivered nothing for {window:g}s") from None
                if not line:
                    return received  # the server ended the watch (timeoutSeconds)
                if line.strip():
                    received = True
                    self._apply(line)
                    self.last_error = None
                    self._heard_at = self._now()
                    self._recovering = False
        finally:
            response.close()

    def _apply(self, line: bytes) -> None:
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise _StreamError(f"{self.name}: watch sent a line that is not JSON") from exc
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            raise _StreamError(f"{self.name}: watch sent a malformed event")
        kind = event.get("type")
        obj: dict[str, Any] = event["object"]
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise _Gone()
            message = obj.get("message") or obj.get("reason") or "watch error"
            raise api_exception(code if isinstance(code, int) else 500, str(message))
        version = _resource_version(obj)
        if kind == "BOOKMARK":
            if version:
                self.resource_version = version
            return
        if kind in ("ADDED", "MODIFIED"):
            # An object that cannot be converted keeps its last value (if it had one): a
            # cache must not lose an object because the model cannot read a new version.
            converted = self._convert(obj)
            if converted is not None:
                self._store(*converted)
        elif kind == "DELETED":
            self._drop(obj)
        else:
            log.warning("%s: ignoring watch event of type %r", self.name, kind)
        if version:
            self.resource_version = version

    def _convert(self, raw: Any) -> tuple[str, T] | None:
        try:
            key = object_key(raw)
            value = self._transform(raw)
        except Exception as exc:
            # One malformed object must not stop the cache of the whole cluster.
            log.warning("%s: cannot convert %s: %s", self.name, object_name(raw), exc)
            return None
        self._report_unmodelled(key, raw, value)
        return key, value

    def _report_unmodelled(self, key: str, raw: Any, value: T) -> None:
        """Log the fields the model could not read, once per version of the object."""
        unmodelled = getattr(value, "unmodelled", ())
        if not unmodelled:
            self._reported.pop(key, None)
            return
        version = _resource_version(raw)
        if key in self._reported and self._reported[key] == version:
            return
        self._reported[key] = version
        log.warning(
            "%s: %s (resourceVersion %s) kept with fields the model cannot read: %s",
            self.name,
            key,
            version,
            "; ".join(unmodelled),
        )

    def _store(self, key: str, value: T) -> None:
        previous = self._items.get(key)
        if previous is not None and previous == value:
            return  # e.g. a status change in a field we do not keep
        self._items[key] = value
        self.version += 1
        self._notify(EventType.ADDED if previous is None else EventType.MODIFIED, key, value)

    def _drop(self, raw: dict[str, Any]) -> None:
        try:
            key = object_key(raw)
        except ValueError:
            return
        previous = self._items.pop(key, None)
        self._reported.pop(key, None)
        if previous is not None:
            self.version += 1
            self._notify(EventType.DELETED, key, previous)

    def _notify(self, kind: EventType, key: str, value: T) -> None:
        for handler in self._handlers:
            try:
                handler(kind, key, value)
            except Exception:
                log.exception("%s: event handler failed for %s %s", self.name, kind, key)
