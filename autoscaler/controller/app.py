"""The whole process of ``kubevirt-autoscaler run``: endpoints, leader election, the manager."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kubernetes_asyncio.client import ApiClient

from autoscaler.controller.actuator import ActuatorOptions
from autoscaler.controller.manager import Manager, ManagerSettings
from autoscaler.controller.settings import Settings
from autoscaler.controller.tenant import LoopSettings
from autoscaler.core.batching import BatchWindows
from autoscaler.kube import errors
from autoscaler.kube.clients import management_client
from autoscaler.kube.drain import DrainSettings
from autoscaler.kube.informer import InformerSettings
from autoscaler.kube.leader import LeaderElectionConfig, LeaderElector
from autoscaler.observability.metrics import Metrics
from autoscaler.observability.server import ObservabilityServer, Readiness
from autoscaler.rawjson import RequestTimeouts

log = logging.getLogger(__name__)


def loop_settings(settings: Settings) -> LoopSettings:
    core = settings.core_config()
    backoff_max = settings.watch_backoff_max_seconds
    return LoopSettings(
        windows=BatchWindows(
            idle_seconds=settings.batch_idle_seconds,
            max_seconds=settings.batch_max_seconds,
            scan_interval_seconds=settings.scan_interval_seconds,
        ),
        core=core,
        informer=informer_settings(settings),
        actuator=ActuatorOptions(
            dry_run=settings.dry_run,
            token_ttl=settings.bootstrap_token_ttl_seconds,
            drain=DrainSettings(
                timeout=max(core.drain_timeout, 1.0),
                backoff_base=min(1.0, backoff_max),
                backoff_max=max(min(15.0, backoff_max), min(1.0, backoff_max)),
            ),
        ),
        probe_timeout=settings.tenant_probe_timeout_seconds,
        retry_seconds=min(1.0, settings.scan_interval_seconds),
    )


def informer_settings(settings: Settings) -> InformerSettings:
    backoff_max = settings.watch_backoff_max_seconds
    return InformerSettings(
        backoff_base=min(0.5, backoff_max),
        backoff_max=backoff_max,
        inactivity_timeout=settings.watch_inactivity_seconds,
        list_timeout=settings.request_timeout_seconds,
        connect_timeout=settings.connect_timeout_seconds,
    )


def request_timeouts(settings: Settings) -> RequestTimeouts:
    return RequestTimeouts(
        connect=settings.connect_timeout_seconds, total=settings.request_timeout_seconds
    )


def manager_settings(settings: Settings) -> ManagerSettings:
    return ManagerSettings(
        namespace=settings.namespace,
        all_namespaces=settings.all_namespaces,
        resync_seconds=settings.tenant_resync_seconds,
        host_refresh_seconds=settings.host_refresh_seconds,
        garbage_interval_seconds=settings.garbage_interval_seconds,
        orphan_grace_seconds=settings.orphan_grace_seconds,
        informer=informer_settings(settings),
        timeouts=request_timeouts(settings),
    )


def default_identity() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"


@dataclass(slots=True)
class Controller:
    """A running controller; :meth:`stop` shuts it down in order."""

    settings: Settings
    metrics: Metrics
    management: ApiClient
    manager: Manager
    server: ObservabilityServer
    elector: LeaderElector | None
    unhook: Callable[[], None] = lambda: None

    @property
    def leading(self) -> bool:
        return self.elector is None or self.elector.leading

    async def stop(self) -> None:
        # Loops first, so nothing acts while the Lease is released.
        await self.manager.stop()
        if self.elector is not None:
            await self.elector.stop()
        self.metrics.set_leader(False)
        await self.server.stop()
        await self.management.close()
        self.unhook()


async def start_controller(
    settings: Settings,
    *,
    management: ApiClient | None = None,
    metrics: Metrics | None = None,
) -> Controller:
    """Start everything ``run`` runs; ``management`` defaults to the configured cluster."""
    metrics = metrics or Metrics()
    if management is None:
        kubeconfig = str(settings.kubeconfig) if settings.kubeconfig is not None else None
        management = await management_client(kubeconfig, timeouts=request_timeouts(settings))
    unhook = errors.add_api_error_hook(metrics.api_error)
    identity = settings.identity or default_identity()
    listeners: list[Callable[[], None]] = []

    def leadership_changed() -> None:
        for listener in listeners:
            listener()

    elector: LeaderElector | None = None
    if settings.leader_elect:
        elector = LeaderElector(
            management,
            LeaderElectionConfig(
                namespace=settings.namespace,
                name=settings.lease_name,
                identity=identity,
                lease_duration=settings.lease_duration_seconds,
                renew_deadline=settings.renew_deadline_seconds,
                retry_period=settings.retry_period_seconds,
            ),
            on_started_leading=leadership_changed,
            on_stopped_leading=leadership_changed,
        )
    leading = elector.is_leader.is_set if elector is not None else lambda: True
    manager = Manager(
        management,
        metrics,
        settings=manager_settings(settings),
        loop_settings=loop_settings(settings),
        is_leader=leading,
        identity=identity,
    )
    readiness = Readiness()
    readiness.add("tenantclusters", manager.readiness_problem)
    if elector is not None:
        running = elector
        readiness.add(
            "leader-election",
            lambda: None if running.running else "leader election is not running",
        )
    listeners.append(manager.leadership_changed)
    server = ObservabilityServer(
        metrics, readiness, host=settings.metrics_host, port=settings.metrics_port
    )
    await server.start()
    metrics.set_leader(leading())
    await manager.start()
    if elector is not None:
        elector.start()
    log.info(
        "controller started as %s (leader election %s, dry run %s)",
        identity,
        "on" if elector is not None else "off",
        "on" if settings.dry_run else "off",
    )
    return Controller(settings, metrics, management, manager, server, elector, unhook)


async def run_until(settings: Settings, stop: asyncio.Event) -> None:
    controller = await start_controller(settings)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await controller.stop()
