"""The fake API server: an aiohttp application in front of a ``Registry``.

async with FakeApiServer(crds=[...]) as server:
    config = server.kubeconfig()   # for kubernetes_asyncio
    server.faults.throttle(verb="patch", resource="nodes")
    server.registry.create(...)     # direct access from Python, no HTTP

``open_listener`` serves the same state on one more port, so that faults (which can match by
port) hit one client's traffic and spare another's; ``request_hooks`` see each request before it
is served and ``response_hooks`` each audited answer, for tests that check the state at the
moment a request arrives or act at the n-th request.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from testbed.apiserver.crds import CrdSource
from testbed.apiserver.errors import ApiError, success_status
from testbed.apiserver.faults import FaultInjector, FaultPlan
from testbed.apiserver.registry import Registry
from testbed.apiserver.registry_state import ListResult
from testbed.apiserver.registry_writes import JSON_PATCH
from testbed.apiserver.resources import ResourceType
from testbed.apiserver.routing import (
    TRUE_VALUES,
    Target,
    discovery_document,
    error_response,
    int_param,
    json_response,
    local_port,
    read_body,
    reset_connection,
    route,
)
from testbed.apiserver.store import Record, dump
from testbed.apiserver.watch import WatchOptions, serve_watch
from testbed.kubeconfig import kubeconfig_dict

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One request as the server saw it (for tests that check what a client sent)."""

    method: str
    path: str
    query: Mapping[str, str]
    verb: str
    resource: str
    code: int
    port: int = 0  # the listener the request arrived on


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """A routed request, as request hooks see it before it is served."""

    verb: str
    resource: str  # plural, with "/subresource" when there is one
    namespace: str | None
    name: str
    port: int


class FakeApiServer:
    """Real HTTP on ``host``:``port`` (a free port by default); ``url`` once started."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        crds: Iterable[CrdSource] = (),
        history_size: int = 10_000,
        bookmark_interval: float = 5.0,
        watch_timeout: float = 1800.0,
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        require_namespaces: bool = True,
        seed: int | None = None,
        audit_size: int = 10_000,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.registry = Registry(
            history_size=history_size, clock=clock, require_namespaces=require_namespaces, seed=seed
        )
        for source in crds:
            self.registry.register_crd(source)
        self.faults = FaultInjector(seed)
        self.audit: deque[AuditEntry] = deque(maxlen=audit_size)
        self.request_hooks: list[Callable[[RequestInfo], None]] = []
        self.response_hooks: list[Callable[[AuditEntry], None]] = []
        self.app = web.Application(client_max_size=64 * 1024 * 1024)
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner: web.AppRunner | None = None
        self._listeners: set[int] = set()
        # Open watch streams: (resource names, port, the event that ends the stream).
        self._streams: set[tuple[tuple[str, ...], int, asyncio.Event]] = set()
        self._stopping = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._stopping.clear()
        self._runner = web.AppRunner(
            self.app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])

    async def open_listener(self) -> int:
        """Serve on one more free port of ``host`` and return that port."""
        if self._runner is None:
            raise RuntimeError("the server is not started")
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        ports = {int(address[1]) for address in self._runner.addresses}
        ports.discard(self.port)
        new = ports - self._listeners
        self._listeners |= new
        return new.pop()

    def end_watches(self, *, resource: str | None = None, port: int | None = None) -> int:
        """End the open watch streams of ``resource`` (or all) on ``port`` (or any) at once, as
        a dropped connection would; returns how many."""
        ended = 0
        for resources, stream_port, event in list(self._streams):
            if (resource is None or resource in resources) and port in (None, stream_port):
                event.set()
                ended += 1
        for table in self.registry.store.tables.values():
            for watcher in table.watchers:
                watcher.wakeup.set()
        return ended

    async def stop(self) -> None:
        self._stopping.set()
        for table in self.registry.store.tables.values():
            for watcher in table.watchers:
                watcher.wakeup.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._listeners.clear()

    async def __aenter__(self) -> FakeApiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def kubeconfig(
        self, *, namespace: str = "default", name: str = "fake", port: int | None = None
    ) -> JsonObject:
        """A kubeconfig dict for ``kubernetes_asyncio.config.load_kube_config_from_dict``;
        ``port`` names a listener from ``open_listener`` instead of the first one."""
        url = self.url if port is None else f"http://{self.host}:{port}"
        return kubeconfig_dict(url, token=self.token, namespace=namespace, name=name)

    # -- request handling ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        verb, resource = request.method.lower(), ""
        port = local_port(request)
        try:
            path = request.path
            if path.rstrip("/") in ("/healthz", "/readyz", "/livez"):
                return web.Response(text="ok")
            self._authorize(request)
            answer = discovery_document(path, self.registry.types, f"{self.host}:{self.port}")
            if answer is not None:
                # Faults that name no resource (a blackhole, an error rate) reach discovery and
                # /version too, as they would on a real network.
                plan = self.faults.plan("get", (), path, port)
                reset = await self._suffer(plan, request, "get", "", port)
                return reset or json_response(answer)
            target = route(request, self.registry)
            verb = target.verb
            sub = f"/{target.subresource}" if target.subresource else ""
            resource = target.rtype.plural + sub
            resources = (resource, target.rtype.group_resource + sub)
            plan = self.faults.plan(verb, resources, path, port)
            reset = await self._suffer(plan, request, verb, resource, port)
            if reset is not None:
                return reset
            info = RequestInfo(verb, resource, target.namespace, target.name, port)
            for hook in self.request_hooks:
                hook(info)
            if verb == "watch":
                self._record(request, verb, resource, 200)

                def silenced() -> bool:
                    return self.faults.silenced(resources, path, port)

                stream = (resources, port, asyncio.Event())
                self._streams.add(stream)
                try:
                    return await self._watch(
                        request, target, plan.drop_after, plan.expire, silenced, stream[2]
                    )
                finally:
                    self._streams.discard(stream)
            response = await self._serve(request, target)
        except ApiError as error:
            response = error_response(error)
        self._record(request, verb, resource, response.status)
        return response

    async def _suffer(
        self, plan: FaultPlan, request: web.Request, verb: str, resource: str, port: int
    ) -> web.StreamResponse | None:
        """Apply the faults' latency, hold and error; a reset connection is returned."""
        if plan.latency:
            await asyncio.sleep(plan.latency)
        if plan.hang:
            await self._hold(plan.release)
        if plan.reset:
            self._record(request, verb, resource, 0)
            return reset_connection(request)
        if plan.error is not None:
            raise plan.error
        return None

    async def _hold(self, release: asyncio.Event | None) -> None:
        """Wait until ``release`` is set (None: never); the client may give up first."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if release is not None:
            waits.append(asyncio.ensure_future(release.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        if self._stopping.is_set():
            raise ApiError(503, "ServiceUnavailable", "the server is shutting down")

    def _record(self, request: web.Request, verb: str, resource: str, code: int) -> None:
        entry = AuditEntry(
            request.method,
            request.path,
            dict(request.query),
            verb,
            resource,
            code,
            local_port(request),
        )
        self.audit.append(entry)
        for hook in self.response_hooks:
            hook(entry)

    def _authorize(self, request: web.Request) -> None:
        if self.token is None:
            return
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    async def _serve(self, request: web.Request, target: Target) -> web.Response:
        query = request.query
        registry = self.registry
        rtype, namespace, name = target.rtype, target.namespace, target.name
        dry_run = query.get("dryRun") == "All"
        validation = query.get("fieldValidation", "")
        warnings: list[str] = []
        if target.verb == "get":
            return json_response(registry.get(rtype, namespace, name).raw_as(rtype.api_version))
        if target.verb == "list":
            return json_response(self._render_list(rtype, self._list(rtype, namespace, query)))
        if target.subresource == "eviction":
            registry.evict(str(namespace), name, await read_body(request))
            return json_response(success_status(201), 201)
        if target.subresource == "binding":
            body = await read_body(request)
            pod = name or str((body or {}).get("metadata", {}).get("name", ""))
            registry.bind(str(namespace), pod, body)
            return json_response(success_status(201), 201)
        record: Record
        status = 200
        if target.verb == "create":
            record = registry.create(
                rtype,
                namespace,
                await read_body(request),
                dry_run=dry_run,
                field_validation=validation,
                warnings=warnings,
            )
            status = 201
        elif target.verb == "update":
            record = registry.update(
                rtype,
                namespace,
                name,
                await read_body(request),
                subresource=target.subresource,
                dry_run=dry_run,
                field_validation=validation,
                warnings=warnings,
            )
        elif target.verb == "patch":
            record = registry.patch(
                rtype,
                namespace,
                name,
                await read_body(request),
                request.headers.get("Content-Type", JSON_PATCH),
                subresource=target.subresource,
                dry_run=dry_run,
                field_validation=validation,
                warnings=warnings,
            )
        elif target.verb == "delete":
            return await self._delete(request, target, dry_run)
        else:
            options = self._delete_options(query, await read_body(request, required=False))
            removed = registry.delete_collection(
                rtype,
                namespace,
                label_selector=query.get("labelSelector", ""),
                field_selector=query.get("fieldSelector", ""),
                options=options,
                dry_run=dry_run,
            )
            listed = ListResult(removed, registry.store.revision)
            return json_response(self._render_list(rtype, listed))
        response = json_response(record.raw_as(rtype.api_version), status)
        for warning in warnings:
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{escaped}"')
        return response

    async def _delete(self, request: web.Request, target: Target, dry_run: bool) -> web.Response:
        rtype = target.rtype
        options = self._delete_options(request.query, await read_body(request, required=False))
        record, removed = self.registry.delete(
            rtype, target.namespace, target.name, options, dry_run=dry_run
        )
        if not removed:
            return json_response(record.raw_as(rtype.api_version), 202)
        if rtype.returns_deleted_object:
            return json_response(record.raw_as(rtype.api_version))
        obj = record.load()
        details = {"name": record.name, "kind": rtype.plural, "uid": obj["metadata"].get("uid")}
        if rtype.group:
            details["group"] = rtype.group
        return json_response(success_status(200, details))

    @staticmethod
    def _delete_options(query: Mapping[str, str], body: Any) -> JsonObject:
        options: JsonObject = dict(body) if isinstance(body, Mapping) else {}
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "gracePeriodSeconds" in query:
            options["gracePeriodSeconds"] = int_param(query, "gracePeriodSeconds", 0)
        return options

    def _list(
        self, rtype: ResourceType, namespace: str | None, query: Mapping[str, str]
    ) -> ListResult:
        return self.registry.list_objects(
            rtype,
            namespace,
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            limit=int_param(query, "limit", 0),
            continue_token=query.get("continue", ""),
            resource_version=query.get("resourceVersion", ""),
            resource_version_match=query.get("resourceVersionMatch", ""),
        )

    @staticmethod
    def _render_list(rtype: ResourceType, listed: ListResult) -> bytes:
        metadata: JsonObject = {"resourceVersion": str(listed.resource_version)}
        if listed.continue_token:
            metadata["continue"] = listed.continue_token
        if listed.remaining is not None:
            metadata["remainingItemCount"] = listed.remaining
        head = dump({"kind": f"{rtype.kind}List", "apiVersion": rtype.api_version})
        items = b",".join(record.raw_as(rtype.api_version) for record in listed.records)
        return head[:-1] + b',"metadata":' + dump(metadata) + b',"items":[' + items + b"]}"

    async def _watch(
        self,
        request: web.Request,
        target: Target,
        drop_after: int | None,
        expire: bool,
        silenced: Callable[[], bool],
        ended: asyncio.Event,
    ) -> web.StreamResponse:
        query = request.query
        rtype = target.rtype
        label_selector = query.get("labelSelector", "")
        field_selector = query.get("fieldSelector", "")
        if target.name:
            field_selector = ",".join(
                part for part in (field_selector, f"metadata.name={target.name}") if part
            )
        start = self.registry.open_watch(
            rtype,
            target.namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            resource_version=query.get("resourceVersion", ""),
        )
        if expire and start.watcher is not None:
            self.registry.close_watch(start)
            start.watcher = None
        timeout = int_param(query, "timeoutSeconds", 0)
        options = WatchOptions(
            api_version=rtype.api_version,
            kind=rtype.kind,
            timeout=float(timeout) if timeout > 0 else self.watch_timeout,
            bookmarks=query.get("allowWatchBookmarks") in TRUE_VALUES,
            bookmark_interval=self.bookmark_interval,
            drop_after=drop_after,
            silenced=silenced,
            ended=ended,
        )
        return await serve_watch(request, self.registry, start, options, self._stopping)
