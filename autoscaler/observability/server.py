"""The HTTP endpoints a kubelet and Prometheus poll: ``/metrics``, ``/healthz``, ``/readyz``.

``/healthz`` says the process is alive and its event loop responsive (a heartbeat task that
falls far behind means the loop is blocked). ``/readyz`` runs the readiness checks the
controller registers (caches synced, leader election running); each returns None when ready
or the reason it is not, and the first reason is returned with status 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from autoscaler.observability.metrics import Metrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], str | None]


class LoopMonitor:
    """Beats every ``interval`` seconds; stale when a beat is more than ``max_lag`` late."""

    def __init__(self, interval: float = 1.0, max_lag: float = 10.0) -> None:
        self.interval = interval
        self.max_lag = max_lag
        self.last_beat = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self.last_beat = time.monotonic()
            self._task = asyncio.create_task(self._beat(), name="loop monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _beat(self) -> None:
        while True:
            self.last_beat = time.monotonic()
            await asyncio.sleep(self.interval)

    def problem(self) -> str | None:
        if self._task is None or self._task.done():
            return "the event loop monitor is not running"
        late = time.monotonic() - self.last_beat - self.interval
        if late > self.max_lag:
            return f"the event loop was blocked: last heartbeat {late:.1f}s late"
        return None


class Readiness:
    """Named readiness checks, evaluated in the order they were added."""

    def __init__(self) -> None:
        self._checks: dict[str, ReadinessCheck] = {}

    def add(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    def remove(self, name: str) -> None:
        self._checks.pop(name, None)

    def problems(self) -> list[str]:
        found = []
        for name, check in list(self._checks.items()):
            try:
                reason = check()
            except Exception as exc:
                log.exception("readiness check %s failed", name)
                reason = f"check failed: {type(exc).__name__}"
            if reason:
                found.append(f"{name}: {reason}")
        return found


def build_app(
    metrics: Metrics,
    readiness: Readiness | None = None,
    loop_monitor: LoopMonitor | None = None,
) -> web.Application:
    readiness = readiness or Readiness()

    async def healthz(_: web.Request) -> web.Response:
        problem = loop_monitor.problem() if loop_monitor is not None else None
        if problem:
            return web.Response(status=503, text=f"unhealthy: {problem}\n")
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        problems = readiness.problems()
        if problems:
            return web.Response(status=503, text="not ready: " + "; ".join(problems) + "\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class ObservabilityServer:
    """Serves :func:`build_app` on ``host:port`` and runs the loop monitor."""

    def __init__(
        self,
        metrics: Metrics,
        readiness: Readiness | None = None,
        *,
        host: str = "0.0.0.0",
        port: int = 8080,
        loop_monitor: LoopMonitor | None = None,
    ) -> None:
        self.readiness = readiness or Readiness()
        self.loop_monitor = loop_monitor or LoopMonitor()
        self._app = build_app(metrics, self.readiness, self.loop_monitor)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when started with port 0)."""
        if self._runner is not None:
            for address in self._runner.addresses:
                if isinstance(address, tuple) and len(address) >= 2:
                    return int(address[1])
        return self._port

    async def start(self) -> None:
        self.loop_monitor.start()
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("observability endpoints on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        await self.loop_monitor.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
