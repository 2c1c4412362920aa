"""Follows the TenantCluster objects and runs one TenantLoop per valid one.

Each TenantCluster is validated on its own: an invalid one gets a status condition and an Event
and has no loop, the others carry on. A loop is (re)started when its TenantCluster appears,
when its spec changes (generation) or when its kubeconfig Secret changes, and stopped when it
goes; each loop has a garbage task of its own beside it, so that one tenant that hangs delays
no other tenant's collection. Shared by every loop: the host ledger, the VM providers (one per
VM namespace, all metered on the same registry), the metrics and the leader state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from autoscaler.api.models import API_VERSION, GROUP, VERSION, InvalidObject, load_tenant_cluster
from autoscaler.controller.garbage import GarbageCollector
from autoscaler.controller.sources import raw_object
from autoscaler.controller.status_report import (
    CONNECTED,
    TENANTCLUSTERS,
    VALID,
    tenant_cluster_resource,
)
from autoscaler.controller.tenant import LoopSettings, Shared, TenantLoop
from autoscaler.controller.tenant_garbage import TenantGarbage
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.kube import errors
from autoscaler.kube.clients import KubeconfigError, SecretKeyRef, TenantClients
from autoscaler.kube.events import EventRecorder, ObjectRef
from autoscaler.kube.informer import EventType, Informer, InformerSettings
from autoscaler.kube.status import Condition, StatusWriter
from autoscaler.observability.logging import log_context
from autoscaler.observability.metrics import Metrics
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.kubevirt import KubeVirtProvider
from autoscaler.providers.metered import MeteredProvider
from autoscaler.providers.protocol import VMProvider
from autoscaler.rawjson import RequestTimeouts, call_json

log = logging.getLogger(__name__)

ProviderFactory = Callable[[str], VMProvider]


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    namespace: str = "kvpool-system"
    all_namespaces: bool = False
    resync_seconds: float = 30.0
    host_refresh_seconds: float = 10.0
    garbage_interval_seconds: float = 60.0
    orphan_grace_seconds: float = 300.0
    informer: InformerSettings = field(default_factory=InformerSettings)
    timeouts: RequestTimeouts = field(default_factory=RequestTimeouts)  # of tenant clients


@dataclass(slots=True)
class _Running:
    loop: TenantLoop
    identity: tuple[Any, ...]
    garbage: TenantGarbage


class Manager:
    def __init__(
        self,
        management: ApiClient,
        metrics: Metrics,
        *,
        settings: ManagerSettings | None = None,
        loop_settings: LoopSettings | None = None,
        is_leader: Callable[[], bool] = lambda: True,
        providers: ProviderFactory | None = None,
        ledger: HostCapacityLedger | None = None,
        clock: Callable[[], float] = time.time,
        identity: str = "",
    ) -> None:
        self.settings = settings or ManagerSettings()
        self.loop_settings = loop_settings or LoopSettings()
        self.metrics = metrics
        self.ledger = ledger or HostCapacityLedger()
        self.is_leader = is_leader
        self._management = management
        self._clock = clock
        self._providers: dict[str, VMProvider] = {}
        self._provider_factory = providers or self._kubevirt_provider
        self.clients = TenantClients(management, timeouts=self.settings.timeouts)
        self.events = EventRecorder(management, instance=identity, cluster="management")
        self.status = StatusWriter(management, cluster="management")
        self.shared = Shared(
            ledger=self.ledger,
            metrics=metrics,
            events=self.events,
            status=self.status,
            is_leader=is_leader,
            clock=clock,
        )
        custom = CustomObjectsApi(management)
        if self.settings.all_namespaces:
            list_func = functools.partial(
                custom.list_cluster_custom_object, GROUP, VERSION, TENANTCLUSTERS
            )
        else:
            list_func = functools.partial(
                custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                self.settings.namespace,
                TENANTCLUSTERS,
            )
        self._list_tenant_clusters = list_func
        self.tenantclusters: Informer[dict[str, Any]] = Informer(
            "tenantclusters",
            list_func,
            raw_object,
            cluster="management",
            settings=self.settings.informer,
        )
        self.tenantclusters.add_handler(self._tenant_cluster_changed)
        self.loops: dict[str, _Running] = {}
        self._invalid: dict[str, str] = {}  # tenant -> the problem last reported
        self.vm_namespaces: set[str] = set()  # of every TenantCluster seen, for the collector
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.garbage = GarbageCollector(
            management,
            ledger=self.ledger,
            known_tenants=self._listed_tenants,
            vm_namespaces=lambda: set(self.vm_namespaces),
            tenant_clusters_trusted=self._tenant_clusters_trusted,
            providers=self.provider,
            orphan_grace=self.settings.orphan_grace_seconds,
            dry_run=self.loop_settings.actuator.dry_run,
            clock=clock,
        )

    # Wiring ---------------------------------------------------------------------------------
    def _kubevirt_provider(self, namespace: str) -> VMProvider:
        return MeteredProvider(KubeVirtProvider(self._management, namespace), self.metrics.registry)

    def provider(self, namespace: str) -> VMProvider:
        """The VM provider of one VM namespace (shared by the tenants that use it)."""
        provider = self._providers.get(namespace)
        if provider is None:
            provider = self._providers[namespace] = self._provider_factory(namespace)
        return provider

    def _loops(self) -> list[TenantLoop]:
        return [running.loop for running in self.loops.values()]

    async def _listed_tenants(self) -> set[str]:
        """The TenantClusters that exist now, read directly rather than from the cache."""
        listing = await call_json(self._list_tenant_clusters)
        items = listing.get("items")
        objects = [obj for obj in items if isinstance(obj, dict)] if isinstance(items, list) else []
        return {_name(obj) for obj in objects} | {_name(o) for o in self.tenantclusters.snapshot()}

    def _tenant_clusters_trusted(self) -> bool:
        return self.tenantclusters.fresh

    def readiness_problem(self) -> str | None:
        if not self.tenantclusters.synced:
            return self.tenantclusters.last_error or "TenantClusters not listed yet"
        return None

    # Running --------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.refresh_hosts()
        self.tenantclusters.start()
        self._tasks = [
            asyncio.create_task(self._reconcile_forever(), name="tenantclusters"),
            asyncio.create_task(
                self._every(self.settings.host_refresh_seconds, self.refresh_hosts), name="hosts"
            ),
            asyncio.create_task(
                self._every(self.settings.garbage_interval_seconds, self._collect_garbage),
                name="garbage",
            ),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.tenantclusters.stop()
        for name in list(self.loops):
            await self._stop_loop(name)
        await self.clients.close()

    def leadership_changed(self) -> None:
        """Called when this replica starts or stops leading: every loop looks again now."""
        self.metrics.set_leader(self.is_leader())
        for running in self.loops.values():
            running.loop.wake()
        self._wake.set()

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__name__", job))

    async def refresh_hosts(self) -> None:
        """Read the bare-metal hosts and the VMs placed on them into the ledger."""
        try:
            hosts = await self.provider(self.settings.namespace).hosts()
        except ProviderError as exc:
            log.warning("cannot read bare-metal host capacity: %s", exc.message)
            return
        placed = {
            vm.name
            for loop in self._loops()
            if loop.last_snapshot is not None
            for vm in loop.last_snapshot.vms
            if vm.host is not None
        }
        self.ledger.observe(hosts, placed, self._clock())

    async def _collect_garbage(self) -> None:
        if self.is_leader():
            await self.garbage.collect()

    # TenantClusters -------------------------------------------------------------------------
    def _tenant_cluster_changed(self, kind: EventType, key: str, obj: dict[str, Any]) -> None:
        self._wake.set()

    async def _reconcile_forever(self) -> None:
        while True:
            self._wake.clear()
            if self.tenantclusters.synced:
                try:
                    await self.reconcile()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconciling TenantClusters failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.resync_seconds):
                    await self._wake.wait()

    async def reconcile(self) -> None:
        """Bring the running loops in line with the TenantClusters as cached now."""
        present: set[str] = set()
        for obj in self.tenantclusters.snapshot():
            name = _name(obj)
            if not name:
                continue
            present.add(name)
            with log_context(tenant=name):
                await self._reconcile_one(name, obj)
        for name in [n for n in self.loops if n not in present]:
            log.info("TenantCluster %s is gone: its loop stops", name)
            await self._stop_loop(name)
            await self.clients.forget(name)
        for name in [n for n in self._invalid if n not in present]:
            del self._invalid[name]
            self.metrics.forget_tenant(name)

    async def _reconcile_one(self, name: str, obj: dict[str, Any]) -> None:
        try:
            tenant = load_tenant_cluster(obj)
        except InvalidObject as exc:
            await self._stop_loop(name)
            await self._report_invalid(obj, "InvalidSpec", str(exc))
            return
        namespace = tenant.metadata.namespace or self.settings.namespace
        secret = tenant.spec.kubeconfig_secret_ref
        ref = SecretKeyRef(namespace, secret.name, secret.key)
        try:
            client = await self.clients.get(name, ref)
        except KubeconfigError as exc:
            await self._stop_loop(name)
            await self._report_invalid(obj, "InvalidKubeconfig", str(exc), connection=True)
            return
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            log.warning("cannot read the kubeconfig of %s: %s", name, errors.status_message(exc))
            return
        self._invalid.pop(name, None)
        self.vm_namespaces.add(tenant.spec.vm_namespace)
        identity = (tenant.metadata.uid, tenant.metadata.generation, id(client.api))
        running = self.loops.get(name)
        if running is not None and running.identity == identity:
            running.loop.update_object(obj)
            return
        if running is not None:
            log.info("TenantCluster %s changed: its loop restarts", name)
            await self._stop_loop(name, forget=False)
        loop = TenantLoop(
            tenant,
            obj,
            client.api,
            self.provider(tenant.spec.vm_namespace),
            self.shared,
            self.loop_settings,
        )
        garbage = TenantGarbage(
            self._management,
            loop,
            interval=self.settings.garbage_interval_seconds,
            # Long enough for a pass of a few requests, each bounded by the request timeout.
            deadline=max(self.settings.garbage_interval_seconds, 4 * self.settings.timeouts.total),
            orphan_grace=self.settings.orphan_grace_seconds,
            dry_run=self.loop_settings.actuator.dry_run,
            is_leader=self.is_leader,
            clock=self._clock,
        )
        self.loops[name] = _Running(loop, identity, garbage)
        loop.start()
        garbage.start()
        log.info("TenantCluster %s: loop started", name)

    async def _stop_loop(self, name: str, *, forget: bool = True) -> None:
        running = self.loops.pop(name, None)
        if running is not None:
            await running.garbage.stop()
            await running.loop.stop()
        if forget:
            self.ledger.forget_tenant(name)

    async def _report_invalid(
        self, obj: Mapping[str, Any], reason: str, message: str, *, connection: bool = False
    ) -> None:
        name = _name(obj)
        self.metrics.set_connected(name, False)
        if self._invalid.get(name) == message or not self.is_leader():
            return
        self._invalid[name] = message
        log.warning("TenantCluster %s is not usable: %s", name, message)
        raw_meta = obj.get("metadata")
        meta: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
        namespace = str(meta.get("namespace") or self.settings.namespace)
        ref = ObjectRef(API_VERSION, "TenantCluster", name, namespace, str(meta.get("uid") or ""))
        await self.events.warning(ref, reason, message)
        if connection:  # the kubeconfig is what is wrong: the tenant cannot be reached
            condition = Condition(CONNECTED, False, reason, message)
        else:
            condition = Condition(VALID, False, reason, message)
        await self.status.update(
            tenant_cluster_resource(name, namespace),
            [condition],
            {"connected": False},
            now=self._clock(),
            current=obj,
        )


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""
