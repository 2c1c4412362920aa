"""One tenant's loop: caches, batching, decide, then act.

No decision is made while the tenant's caches are not synced, any of them is stale (its watch
has said nothing within its inactivity window), or its API server does not answer, so a VM is
never deleted on the evidence of a tenant that cannot be seen or is seen late; the TenantCluster
says why (``Connected=False`` with reason ``Stale``, ``CachesNotSynced`` or ``Unreachable``, an
Event and a log line) and the loop recovers by itself. Only the leader decides and acts;
a follower keeps its caches warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, VersionApi

from autoscaler.api.models import API_VERSION, TenantCluster
from autoscaler.controller.actuator import Actuator, ActuatorOptions, Outcome, PlanContext
from autoscaler.controller.boot import BootTracker
from autoscaler.controller.demand import HostDemand
from autoscaler.controller.launches import NamedLaunch, name_launches
from autoscaler.controller.snapshot import build_snapshot, pools_of
from autoscaler.controller.sources import STALE, TenantSources
from autoscaler.controller.status_report import (
    VALID,
    connected_condition,
    nodepool_resource,
    nodepool_status,
    pool_counts,
    tenant_cluster_resource,
    tenant_status_fields,
)
from autoscaler.controller.telemetry import PassMetrics
from autoscaler.core.actions import DeleteVM, Plan
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.batching import Batcher, BatchWindows
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.core.config import CoreConfig
from autoscaler.core.model import Pod, Pool, Snapshot, VirtualMachine
from autoscaler.kube import errors
from autoscaler.kube.events import EventRecorder, ObjectRef
from autoscaler.kube.informer import InformerSettings
from autoscaler.kube.status import Condition, StatusWriter
from autoscaler.kube.tasks import cancel_and_wait
from autoscaler.observability.logging import log_context
from autoscaler.observability.metrics import Metrics
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import VMProvider
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02
RETIRED_NAMES = 10_000  # deleted VM names remembered so that replacements get new ones


@dataclass(frozen=True, slots=True)
class LoopSettings:
    windows: BatchWindows = field(default_factory=BatchWindows)
    core: CoreConfig = field(default_factory=CoreConfig)
    informer: InformerSettings = field(default_factory=InformerSettings)
    actuator: ActuatorOptions = field(default_factory=ActuatorOptions)
    probe_timeout: float = 5.0
    retry_seconds: float = 1.0  # how often a disconnected tenant is looked at again


@dataclass(frozen=True, slots=True)
class Shared:
    """What every tenant loop of the process shares."""

    ledger: HostCapacityLedger
    metrics: Metrics
    events: EventRecorder  # on the management cluster
    status: StatusWriter  # on the management cluster
    is_leader: Callable[[], bool] = lambda: True
    clock: Callable[[], float] = time.time


class TenantLoop:
    def __init__(
        self,
        tenant: TenantCluster,
        tenant_object: Mapping[str, Any],
        api: ApiClient,
        provider: VMProvider,
        shared: Shared,
        settings: LoopSettings | None = None,
    ) -> None:
        self.tenant = tenant
        self.name = tenant.metadata.name
        self.settings = settings or LoopSettings()
        self.api = api
        self.provider = provider
        self._shared = shared
        self._object: Mapping[str, Any] = tenant_object
        self._wake = asyncio.Event()
        self.sources = TenantSources(
            self.name,
            api,
            schedulers=frozenset(self.settings.core.scheduler_names),
            settings=self.settings.informer,
            on_pending_change=self._pending_changed,
            on_scheduled=self._scheduled,
            clock=shared.clock,
        )
        self.ref = ObjectRef(
            API_VERSION,
            "TenantCluster",
            self.name,
            tenant.metadata.namespace or "",
            tenant.metadata.uid or "",
        )
        self.boot = BootTracker()
        self._tenant_events = EventRecorder(api, instance=self.name, cluster=self.name)
        self.actuator = Actuator(
            self.name,
            api,
            provider,
            ledger=shared.ledger,
            metrics=shared.metrics,
            events=shared.events,
            tenant_ref=self.ref,
            boot=self.boot,
            options=self.settings.actuator,
            clock=shared.clock,
            tenant_events=self._tenant_events,
        )
        self._tenant_status = StatusWriter(api, cluster=self.name)
        self._pass_metrics = PassMetrics(shared.metrics, self.name)
        self._batcher = Batcher(self.settings.windows)
        self._autoscaler: Autoscaler | None = None
        self._task: asyncio.Task[None] | None = None
        self._stepping_down: asyncio.Task[None] | None = None
        self._retired: dict[str, None] = {}  # names of VMs deleted, oldest first
        self.demand = HostDemand(shared.ledger, self.name, tenant.spec.weight)
        self._pool_errors: dict[str, str] = {}
        self._last_scale_up: dict[str, float] = {}
        self._last_scale_down: dict[str, float] = {}
        self.connected: bool | None = None
        self.problem: str | None = "not started"
        self._reported: tuple[str, str] | None = None  # (reason, subject) last reported
        self.decisions = 0
        self.last_plan: Plan | None = None
        self.last_snapshot: Snapshot | None = None
        self.last_outcomes: list[Outcome] = []

    # Running --------------------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"tenant {self.name}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._shared.ledger.forget_tenant(self.name)
        self._pass_metrics.forget()

    def wake(self) -> None:
        self._wake.set()

    @property
    def leading(self) -> bool:
        """Whether this loop decides and acts (it leads, and has looked since it took over)."""
        return self._autoscaler is not None

    def update_object(self, tenant_object: Mapping[str, Any]) -> None:
        """The TenantCluster as last seen (its status changed; its spec did not)."""
        self._object = tenant_object

    async def run(self) -> None:
        self.sources.start()
        try:
            while True:
                await self._wait()
                with log_context(tenant=self.name):
                    try:
                        await self.step()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        # A bug in one pass must not end the tenant's loop for good.
                        log.exception("tenant %s: pass failed", self.name)
        finally:
            await self.actuator.stop()
            await self.sources.stop()

    async def _wait(self) -> None:
        now = self._shared.clock()
        if self.connected is False or not self.sources.synced:
            delay = self.settings.retry_seconds
        elif self._autoscaler is None:
            delay = self.settings.windows.scan_interval_seconds  # a follower only watches
        else:
            due = self._batcher.due_at()
            delay = min(max(due - now, 0.0), self.settings.windows.scan_interval_seconds)
        if delay <= 0:
            await asyncio.sleep(0)
            return
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
                # A burst of pod events wakes the loop thousands of times: look once per
                # moment, not once per event.
                await asyncio.sleep(COALESCE_SECONDS)

    async def step(self) -> None:
        """Look at the tenant once; decide and act when a decision is due and we lead."""
        clock = self._shared.clock
        caches = self.sources.problem()
        if caches is not None:
            first_listing = caches.reason != STALE and not self.sources.failing()
            if self.connected is None and first_listing:
                return  # still listing for the first time
            await self._set_connected(caches.message, caches.reason, caches.cache)
            return
        self._follow_leadership()
        now = clock()
        self._observe_pending(now)
        if self._autoscaler is None or not self._batcher.is_due(now):
            return
        problem = await self._probe()
        if problem is not None:
            await self._set_connected(problem, "Unreachable")
            return
        await self._set_connected(None)
        try:
            await self.decide_and_act(now)
        finally:
            self._batcher.decided(now)

    def _follow_leadership(self) -> None:
        leading = self._shared.is_leader()
        if leading and self._autoscaler is None:
            self._autoscaler = Autoscaler(self.settings.core)
            self._batcher = Batcher(self.settings.windows)
            self.demand.activate(list(self.sources.pending.values()))
        elif not leading and self._autoscaler is not None:
            self._autoscaler = None
            self.demand.deactivate()
            # Drains in progress are resumed by the next leader from the node's taint.
            self._stepping_down = asyncio.create_task(self.actuator.stop())

    # Connectivity ---------------------------------------------------------------------------
    async def _probe(self) -> str | None:
        try:
            async with asyncio.timeout(self.settings.probe_timeout):
                await call_json(VersionApi(self.api).get_code)
        except TimeoutError:
            return f"the tenant API server did not answer within {self.settings.probe_timeout}s"
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            return f"the tenant API server is not reachable: {errors.status_message(exc)}"
        return None

    async def _set_connected(
        self, problem: str | None, reason: str = "Unreachable", subject: str | None = None
    ) -> None:
        """Record the connection state; report it when the reason or its subject changed.

        ``subject`` is what the problem is about (a cache), when its message keeps changing.
        """
        connected = problem is None
        recovered = connected and self.connected is False
        reported = None if connected else (reason, subject or problem or "")
        changed = connected != self.connected or reported != self._reported
        self.connected, self.problem, self._reported = connected, problem, reported
        self._shared.metrics.set_connected(self.name, connected)
        if not changed:
            return
        if connected:
            log.info("tenant %s: connected", self.name)
        else:
            log.warning(
                "tenant %s: no decisions while disconnected (%s): %s", self.name, reason, problem
            )
        if self._shared.is_leader():
            fields = None if connected else {"connected": False}
            await self._write_tenant_status([connected_condition(problem, reason)], fields)
            if recovered:
                await self._shared.events.normal(self.ref, "Connected", "decisions resume")
            elif not connected:
                await self._shared.events.warning(self.ref, reason, problem or reason)

    # Pending pods and host demand -----------------------------------------------------------
    def _observe_pending(self, now: float) -> None:
        self._batcher.observe(self.sources.pending.keys(), now)

    def _pending_changed(self, pod: Pod, added: bool) -> None:
        if added:
            self.demand.arrived(pod)
        else:
            self.demand.left(pod)
        self._wake.set()

    def _scheduled(self, pod: Pod, seconds: float) -> None:
        self._shared.metrics.pod_pending_duration.labels(self.name).observe(seconds)

    # The pass -------------------------------------------------------------------------------
    async def decide_and_act(self, now: float) -> Plan | None:
        """One decision against fresh state, then its execution."""
        autoscaler = self._autoscaler
        if autoscaler is None:
            return None
        try:
            vms = await self.provider.list(self.name)
        except ProviderError as exc:
            log.warning("tenant %s: cannot list its VMs, no decision: %s", self.name, exc.message)
            await self._shared.events.warning(self.ref, "ListVMsFailed", exc.message)
            return None
        caches = self.sources.problem()
        if caches is not None:  # went stale while the VMs were listed
            await self._set_connected(caches.message, caches.reason, caches.cache)
            return None
        ledger = self._shared.ledger
        clock = self._shared.clock
        now = clock()
        # From here to the reservations nothing awaits: plan-then-reserve is atomic, and the
        # caches were fresh just above.
        snapshot = self.snapshot(vms, hosts=ledger.view(self.name, now))
        started = time.perf_counter()
        plan = autoscaler.decide(snapshot, now)
        self._shared.metrics.decision_duration.labels(self.name).observe(
            time.perf_counter() - started
        )
        steps = name_launches(self.name, plan.actions, snapshot.vms, self._retired)
        for step in steps:
            if isinstance(step, NamedLaunch):
                self.actuator.reserve(step, now)
        self.demand.settled()
        self.decisions += 1
        self.last_plan, self.last_snapshot = plan, snapshot

        context = self._context(snapshot, steps)
        outcomes = await self.actuator.execute(steps, context) if steps else []
        self.last_outcomes = outcomes
        _report_held(autoscaler, outcomes, clock())
        self._remember_scaling(outcomes, context, clock())
        self._publish(snapshot, plan, clock())
        if self._shared.is_leader():
            await self._write_statuses(snapshot, plan)
        return plan

    def snapshot(self, vms: list[VirtualMachine], hosts: Any) -> Snapshot:
        sources = self.sources
        return build_snapshot(
            self.tenant,
            pods=sources.pods.snapshot(),
            nodes=sources.nodes.snapshot(),
            pools=self.pools(),
            vms=vms,
            hosts=hosts,
            daemonsets=sources.daemonsets.snapshot(),
            pdbs=sources.pdbs.snapshot(),
            claims=sources.claims.snapshot(),
            volumes=sources.volumes.snapshot(),
            storage_classes=sources.storage_classes.snapshot(),
            namespaces=sources.namespaces.snapshot(),
        )

    def pools(self) -> tuple[Pool, ...]:
        return pools_of(self.sources.nodepools.snapshot(), self.tenant)

    def _context(self, snapshot: Snapshot, steps: list[Any]) -> PlanContext:
        wanted = {pod for s in steps if isinstance(s, NamedLaunch) for pod in s.action.pods}
        pending_since = {
            key: pod.unschedulable_since
            for key in wanted
            if (pod := self.sources.pending.get(key)) is not None
            and pod.unschedulable_since is not None
        }
        return PlanContext(
            tenant=self.tenant,
            pools={pool.name: pool for pool in snapshot.pools},
            vm_pools={vm.name: vm.pool for vm in snapshot.vms},
            pending_since=pending_since,
        )

    def _remember_scaling(self, outcomes: list[Outcome], context: PlanContext, now: float) -> None:
        for outcome in outcomes:
            step = outcome.step
            if isinstance(step, DeleteVM):
                self._retired[step.vm] = None
                while len(self._retired) > RETIRED_NAMES:
                    del self._retired[next(iter(self._retired))]
            if not outcome.ok:
                continue
            if isinstance(step, NamedLaunch):
                self._last_scale_up[step.action.pool] = now
            elif isinstance(step, DeleteVM) and step.vm in context.vm_pools:
                self._last_scale_down[context.vm_pools[step.vm]] = now

    def _publish(self, snapshot: Snapshot, plan: Plan, now: float) -> None:
        metrics = self._shared.metrics
        draining = self._draining()
        self._pass_metrics.publish(snapshot, plan.explanations, draining)
        nodes = {node.name: node for node in snapshot.nodes}
        spent, done = self.boot.observe(snapshot.vms, nodes, now)
        for phase in spent:
            metrics.boot_phase_duration.labels(str(phase.phase)).observe(phase.seconds)
        for up in done:
            metrics.scale_up_latency.labels(self.name, up.pool).observe(up.seconds)

    def _draining(self) -> set[str]:
        drained = set(self.actuator.draining())
        if self._autoscaler is not None:
            drained.update(self._autoscaler.draining())
        return drained

    # Status ---------------------------------------------------------------------------------
    async def _write_statuses(self, snapshot: Snapshot, plan: Plan) -> None:
        counts = pool_counts(snapshot, self._draining())
        messages = dict(plan.pool_messages)
        valid = Condition(VALID, True, "Valid", "the TenantCluster is valid")
        fields = tenant_status_fields(snapshot, counts, messages, self.tenant.metadata.generation)
        await self._write_tenant_status([valid, connected_condition(None)], fields)
        raw = {_nodepool_name(obj): obj for obj in self.sources.nodepools.snapshot()}
        for pool in snapshot.pools:
            await self._report_pool(pool, raw.get(pool.name), counts, messages)

    async def _report_pool(
        self,
        pool: Pool,
        current: Mapping[str, Any] | None,
        counts: Mapping[str, Any],
        messages: Mapping[str, str],
    ) -> None:
        if current is None:
            return
        with log_context(tenant=self.name, pool=pool.name):
            if pool.settings is None and self._pool_errors.get(pool.name) != pool.error:
                self._pool_errors[pool.name] = pool.error or ""
                log.warning("NodePool %s is disabled: %s", pool.name, pool.error)
                ref = ObjectRef.of(current)
                await self._tenant_events.warning(
                    ref, "InvalidAnnotations", pool.error or "invalid settings"
                )
            elif pool.settings is not None:
                self._pool_errors.pop(pool.name, None)
            condition, fields = nodepool_status(
                pool,
                counts[pool.name],
                messages.get(pool.name),
                self._last_scale_up.get(pool.name),
                self._last_scale_down.get(pool.name),
            )
            await self._tenant_status.update(
                nodepool_resource(pool.name),
                [condition],
                fields,
                now=self._shared.clock(),
                current=current,
            )

    async def _write_tenant_status(
        self, conditions: list[Condition], fields: Mapping[str, Any] | None
    ) -> None:
        await self._shared.status.update(
            tenant_cluster_resource(self.name, self.tenant.metadata.namespace or ""),
            conditions,
            fields,
            now=self._shared.clock(),
            current=self._object,
        )


def _report_held(autoscaler: Autoscaler, outcomes: list[Outcome], now: float) -> None:
    """Tell the core which deletions the live check held, so their removals stay open."""
    for outcome in outcomes:
        step = outcome.step
        if outcome.held and isinstance(step, DeleteVM):
            autoscaler.deletion_held(step.node or step.vm, outcome.error or "held", now)


def _nodepool_name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) else ""
