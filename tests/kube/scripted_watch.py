"""A tiny scripted API server for one resource (pods), for the informer's failure paths.

It serves list (with limit/continue paging) and watch (with resourceVersion resume from a
change history, bookmarks and ERROR 410 for compacted versions) over real HTTP, and lets a
test inject failures: error statuses, dropped streams, quiet streams, watches that never start.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client import ApiClient, Configuration


def pod(name: str, version: int, cpu: str = "100m", namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": f"uid-{name}",
            "resourceVersion": str(version),
        },
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]},
        "status": {"phase": "Pending"},
    }


class ScriptedPods:
    def __init__(self) -> None:
        self.version = 100
        self.items: dict[str, dict[str, Any]] = {}
        self.history: list[tuple[int, dict[str, Any]]] = []
        self.compacted = 0  # watches from a version below this get 410
        self.list_failures: list[int] = []
        self.watch_failures: list[int] = []
        self.watch_start_delay = 0.0  # seconds before a watch response starts (hung watch)
        self.list_requests: list[dict[str, str]] = []
        self.watch_requests: list[dict[str, str]] = []
        self._streams: list[asyncio.Queue[dict[str, Any] | None]] = []

    # Changing the world -----------------------------------------------------------------
    def put(self, name: str, cpu: str = "100m") -> None:
        self.version += 1
        kind = "MODIFIED" if name in self.items else "ADDED"
        obj = pod(name, self.version, cpu)
        self.items[name] = obj
        self._publish({"type": kind, "object": obj})

    def put_raw(self, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)
        kind = "MODIFIED" if obj["metadata"]["name"] in self.items else "ADDED"
        self.items[obj["metadata"]["name"]] = obj
        self._publish({"type": kind, "object": obj})

    def delete(self, name: str) -> None:
        self.version += 1
        obj = self.items.pop(name)
        obj = {**obj, "metadata": {**obj["metadata"], "resourceVersion": str(self.version)}}
        self._publish({"type": "DELETED", "object": obj})

    def bookmark(self) -> None:
        self.version += 1
        event = {
            "type": "BOOKMARK",
            "object": {"kind": "Pod", "metadata": {"resourceVersion": str(self.version)}},
        }
        for queue in self._streams:
            queue.put_nowait(event)

    def compact(self) -> None:
        """Forget the history: every watch from an older version gets 410 Gone."""
        self.compacted = self.version
        self.history.clear()

    def drop_streams(self) -> None:
        for queue in self._streams:
            queue.put_nowait(None)

    def send_error(self, code: int) -> None:
        event = {
            "type": "ERROR",
            "object": {"kind": "Status", "status": "Failure", "code": code, "message": "boom"},
        }
        for queue in self._streams:
            queue.put_nowait(event)
            queue.put_nowait(None)  # an API server ends the watch after an ERROR event

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def _publish(self, event: dict[str, Any]) -> None:
        self.history.append((self.version, event))
        for queue in self._streams:
            queue.put_nowait(event)

    # Serving ------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        if query.get("watch") in ("true", "True", "1"):
            return await self._watch(request, query)
        self.list_requests.append(query)
        if self.list_failures:
            return _status(self.list_failures.pop(0))
        names = sorted(self.items)
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or len(names) or 1)
        page = names[start : start + limit]
        more = start + limit < len(names)
        body = {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {
                "resourceVersion": str(self.version),
                **({"continue": str(start + limit)} if more else {}),
            },
            "items": [self.items[n] for n in page],
        }
        return web.json_response(body)

    async def _watch(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        self.watch_requests.append(query)
        if self.watch_failures:
            return _status(self.watch_failures.pop(0))
        if self.watch_start_delay:
            await asyncio.sleep(self.watch_start_delay)
        since = int(query.get("resourceVersion") or self.version)
        response = web.StreamResponse()
        response.content_type = "application/json"
        await response.prepare(request)
        if since < self.compacted:
            gone = {
                "type": "ERROR",
                "object": {
                    "kind": "Status",
                    "code": 410,
                    "reason": "Expired",
                    "message": "too old",
                },
            }
            await response.write(json.dumps(gone).encode() + b"\n")
            return response
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        for version, event in self.history:
            if version > since:
                queue.put_nowait(event)
        self._streams.append(queue)
        try:
            while request.transport is not None and not request.transport.is_closing():
                try:
                    event = await asyncio.wait_for(queue.get(), 0.05)
                except TimeoutError:
                    continue  # look again whether the client went away
                if event is None:
                    break
                await response.write(json.dumps(event).encode() + b"\n")
        finally:
            self._streams.remove(queue)
        return response


def _status(code: int) -> web.Response:
    body = {"kind": "Status", "status": "Failure", "code": code, "message": f"injected {code}"}
    return web.json_response(body, status=code)


@asynccontextmanager
async def serve(pods: ScriptedPods) -> AsyncIterator[ApiClient]:
    """Serve ``pods`` on a free loopback port; yields a client configured for it."""
    app = web.Application()
    app.router.add_get("/api/v1/pods", pods.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    configuration = Configuration(host=f"http://127.0.0.1:{port}")
    api = ApiClient(configuration)
    try:
        yield api
    finally:
        pods.drop_streams()
        await api.close()
        await runner.cleanup()


async def eventually(condition: Any, within: float = 5.0) -> None:
    """Wait until ``condition()`` is true; fail the test if it never is."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not condition():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
