"""Serving one watch: newline-delimited JSON events over a chunked HTTP response."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from testbed.apiserver.errors import expired
from testbed.apiserver.registry import Registry
from testbed.apiserver.registry_state import WatchStart
from testbed.apiserver.store import dump

_BATCH = 500  # events written per chunk when a backlog is being drained
_SILENCE_POLL = 0.05  # seconds between looks at whether a silenced stream may speak again


@dataclass(frozen=True, slots=True)
class WatchOptions:
    api_version: str
    kind: str
    timeout: float  # seconds until the server ends the stream
    bookmarks: bool
    bookmark_interval: float
    drop_after: int | None = None  # injected fault: end after this many events
    # Injected fault: while this says so, the stream sends nothing (events wait, no bookmark,
    # no end at the timeout), as a connection whose packets are dropped.
    silenced: Callable[[], bool] | None = None
    ended: asyncio.Event | None = None  # set: end the stream now (a dropped connection)


def _event(kind: str, raw: bytes) -> bytes:
    return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"


async def serve_watch(
    request: web.Request,
    registry: Registry,
    start: WatchStart,
    options: WatchOptions,
    stopping: asyncio.Event,
) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    watcher = start.watcher
    try:
        if watcher is None:
            status = expired("too old resource version").status()
            await response.write(_event("ERROR", dump(status)))
            return response
        deadline = time.monotonic() + options.timeout
        next_bookmark = time.monotonic() + options.bookmark_interval
        sent = 0
        while not stopping.is_set():
            if options.ended is not None and options.ended.is_set():
                break
            if options.silenced is not None and options.silenced():
                await asyncio.sleep(_SILENCE_POLL)
                continue
            if options.drop_after is not None and sent >= options.drop_after:
                break
            if watcher.pending:
                room = _BATCH
                if options.drop_after is not None:
                    room = min(room, options.drop_after - sent)
                lines: list[bytes] = []
                while watcher.pending and len(lines) < room:
                    kind, record = watcher.pending.popleft()
                    lines.append(_event(kind, record.raw_as(options.api_version)))
                sent += len(lines)
                await response.write(b"".join(lines))
                continue
            if watcher.overflowed:
                break
            now = time.monotonic()
            if options.bookmarks and now >= next_bookmark:
                await response.write(_event("BOOKMARK", _bookmark(options, registry)))
                next_bookmark = now + options.bookmark_interval
                continue
            if now >= deadline:
                break
            wake_at = min(deadline, next_bookmark) if options.bookmarks else deadline
            watcher.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wakeup.wait(), timeout=wake_at - now)
    except (ConnectionError, RuntimeError):
        pass  # the client went away (aiohttp reports a closed transport as either)
    finally:
        registry.close_watch(start)
    return response


def _bookmark(options: WatchOptions, registry: Registry) -> bytes:
    # Every change up to the current revision has been sent (the queue is empty), so the
    # current revision is a safe point to resume from.
    return dump(
        {
            "kind": options.kind,
            "apiVersion": options.api_version,
            "metadata": {"resourceVersion": str(registry.store.revision)},
        }
    )
