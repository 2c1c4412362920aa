"""Executes a Plan's actions, idempotently, in parallel, collecting errors.

Actions on the same node or VM run in their plan order (cordon before drain, and no drain
after a cordon that failed); different targets run at once. Every action may be repeated
safely: a launch reuses its deterministic VM name, cordoning a cordoned node or deleting a
deleted VM does nothing, and a DrainNode for a node already draining is a no-op. Drains run as
background tasks with their own deadline. A failure is logged, counted and recorded as an
Event; it never escapes.

Before a VM is deleted, the pods on its Node are read live (see
:mod:`autoscaler.kube.removal_check`): a pod that would be lost holds the deletion, with an
Event on the Node and its NodePool; the core keeps the removal in progress and asks again
later. A read that fails deletes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kubernetes_asyncio.client import ApiClient, CoreV1Api

from autoscaler.api.cloudinit import KVPOOL_PREFIX, KubeadmJoin, kubeadm_join_user_data
from autoscaler.api.disruption import DisruptionRecord
from autoscaler.api.models import API_VERSION as KVPOOL_API_VERSION
from autoscaler.api.models import TenantCluster
from autoscaler.api.vmbuilder import VMIdentity
from autoscaler.controller.boot import BootTracker
from autoscaler.controller.launches import NamedLaunch
from autoscaler.core.actions import (
    Action,
    CordonNode,
    DeleteVM,
    DrainNode,
    Reason,
    UncordonNode,
)
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.core.model import NO_ZONE, Pool
from autoscaler.core.overhead import host_footprint
from autoscaler.kube import errors
from autoscaler.kube.bootstrap import TOKEN_NAMESPACE, VM_LABEL, create_bootstrap_token
from autoscaler.kube.drain import DrainSettings, cordon, drain, uncordon
from autoscaler.kube.events import EventRecorder, ObjectRef
from autoscaler.kube.removal_check import LiveNode, read_live_node
from autoscaler.observability.logging import log_context
from autoscaler.observability.metrics import Metrics
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import LaunchRequest, VMProvider
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

Step = Action | NamedLaunch
# Deletions worth a warning Event on the TenantCluster: the Event's reason and what happened.
WARNING_DELETIONS = {
    Reason.LAUNCH_TIMEOUT: ("VMReplaced", "is replaced"),
    Reason.BOOT_FAILED: ("VMReplaced", "is replaced"),
    Reason.UNHEALTHY: ("NodeRepaired", "is deleted"),
}


@dataclass(frozen=True, slots=True)
class ActuatorOptions:
    dry_run: bool = False
    token_ttl: float = 3600.0
    drain: DrainSettings = field(default_factory=lambda: DrainSettings(timeout=600.0))
    verify_timeout: float = 10.0  # for the live reads that precede a VM's deletion


@dataclass(frozen=True, slots=True)
class PlanContext:
    """What the actions of one pass refer to."""

    tenant: TenantCluster
    pools: Mapping[str, Pool]
    vm_pools: Mapping[str, str] = field(default_factory=dict)  # VM name -> pool
    pending_since: Mapping[str, float] = field(default_factory=dict)  # pod key -> since


class DeletionHeld(Exception):
    """A VM deletion refused because the live state does not allow it (yet)."""

    def __init__(self, message: str, pods: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.pods = pods


@dataclass(frozen=True, slots=True)
class Outcome:
    step: Step
    error: str | None = None
    held: bool = False  # a deletion the live check held back; the removal stays in progress

    @property
    def ok(self) -> bool:
        return self.error is None


def target_of(step: Step) -> str:
    """What an action changes; actions on the same target run one after the other."""
    if isinstance(step, NamedLaunch):
        return f"vm/{step.name}"
    if isinstance(step, DeleteVM):
        return f"node/{step.node}" if step.node else f"vm/{step.vm}"
    if isinstance(step, CordonNode | UncordonNode | DrainNode):
        return f"node/{step.node}"
    return f"pool/{step.pool}"


def template_labels(pool: Pool | None) -> dict[str, str]:
    """The pool's node labels a kubelet registers with; the kvpool.io/ ones come from the VM."""
    if pool is None:
        return {}
    return {k: v for k, v in pool.labels.items() if not k.startswith(KVPOOL_PREFIX)}


class Actuator:
    def __init__(
        self,
        tenant: str,
        tenant_api: ApiClient,
        provider: VMProvider,
        *,
        ledger: HostCapacityLedger,
        metrics: Metrics,
        events: EventRecorder,
        tenant_ref: ObjectRef,
        boot: BootTracker,
        options: ActuatorOptions | None = None,
        clock: Callable[[], float] = time.time,
        tenant_events: EventRecorder | None = None,
    ) -> None:
        """``tenant_events`` records Events in the tenant cluster (on its Nodes and
        NodePools); without it they go on the TenantCluster."""
        self.tenant = tenant
        self.options = options or ActuatorOptions()
        self._api = tenant_api
        self._core = CoreV1Api(tenant_api)
        self._provider = provider
        self._ledger = ledger
        self._metrics = metrics
        self._events = events
        self._tenant_ref = tenant_ref
        self._tenant_events = tenant_events
        self._boot = boot
        self._clock = clock
        self._drains: dict[str, asyncio.Task[None]] = {}
        self.in_flight: set[str] = set()  # VMs whose launch is under way

    # The pass -----------------------------------------------------------------------------
    async def execute(self, steps: Sequence[Step], context: PlanContext) -> list[Outcome]:
        groups: dict[str, list[Step]] = {}
        for step in steps:
            groups.setdefault(target_of(step), []).append(step)
        results = await asyncio.gather(
            *(self._in_order(group, context) for group in groups.values())
        )
        return [outcome for group in results for outcome in group]

    async def _in_order(self, steps: Sequence[Step], context: PlanContext) -> list[Outcome]:
        outcomes: list[Outcome] = []
        uncordoned = False
        for step in steps:
            if isinstance(step, DrainNode) and uncordoned:
                # Evicted pods would come straight back to a schedulable node.
                outcomes.append(Outcome(step, "not drained: the cordon failed"))
                continue
            outcome = await self._one(step, context)
            if isinstance(step, CordonNode):
                uncordoned = not outcome.ok
            outcomes.append(outcome)
        return outcomes

    async def _one(self, step: Step, context: PlanContext) -> Outcome:
        try:
            if self.options.dry_run:
                log.info("dry run: would %s", describe(step))
                return Outcome(step)
            match step:
                case NamedLaunch():
                    await self._launch(step, context)
                case DeleteVM():
                    await self._delete(step, context)
                case CordonNode():
                    record = DisruptionRecord(str(step.reason), self._clock(), step.detail)
                    settings = self.options.drain
                    await self._node_call(
                        step.node,
                        lambda: cordon(self._api, step.node, record, settings, cluster=self.tenant),
                    )
                case UncordonNode():
                    await self._stop_drain(step.node)
                    settings = self.options.drain
                    await self._node_call(
                        step.node,
                        lambda: uncordon(self._api, step.node, settings, cluster=self.tenant),
                    )
                case DrainNode():
                    self._start_drain(step.node)
                case _:
                    return Outcome(step, f"unknown action {step!r}")
        except asyncio.CancelledError:
            raise
        except DeletionHeld as held:
            return Outcome(step, held.message, held=True)
        except Exception as exc:
            message = _message(exc)
            log.warning("%s failed: %s", describe(step), message)
            await self._events.warning(
                self._tenant_ref, _failure_reason(step), f"{describe(step)}: {message}"
            )
            return Outcome(step, message)
        return Outcome(step)

    # Launch -------------------------------------------------------------------------------
    async def _launch(self, launch: NamedLaunch, context: PlanContext) -> None:
        action, name = launch.action, launch.name
        tenant = context.tenant
        with log_context(tenant=self.tenant, pool=action.pool, vm=name):
            result = "error"
            self.in_flight.add(name)
            try:
                image = tenant.image_sources().get(action.image)
                if image is None:
                    raise ProviderError(f"image {action.image!r} is not in the allow-list")
                identity = VMIdentity(
                    name, tenant.spec.vm_namespace, self.tenant, action.pool, action.shape, image
                )
                now = self._clock()
                issued = await create_bootstrap_token(
                    self._api, self.tenant, name, now, self.options.token_ttl, cluster=self.tenant
                )
                bootstrap = tenant.spec.bootstrap
                join = KubeadmJoin(
                    bootstrap.api_server_endpoint,
                    issued.token,
                    tuple(bootstrap.ca_cert_hashes or ()),
                )
                pool = context.pools.get(action.pool)
                user_data = kubeadm_join_user_data(
                    identity,
                    join,
                    template_labels(pool),
                    pool.taints if pool else (),
                    action.zone.labels,
                )
                await self._provider.launch(
                    LaunchRequest(
                        name=name,
                        tenant=self.tenant,
                        pool=action.pool,
                        shape=action.shape,
                        image=image,
                        user_data=user_data,
                        host=action.host,
                        zone_labels=action.zone.labels,
                        replaces=action.replaces,
                    )
                )
                result = "success"
                since = [
                    context.pending_since[p] for p in action.pods if p in context.pending_since
                ]
                self._boot.launched(name, min(since) if since else None)
                log.info(
                    "launched VM %s (%s) in %s for %d pod(s): %s",
                    name,
                    action.shape,
                    action.zone,
                    len(action.pods),
                    action.reason,
                )
            except BaseException:
                self._ledger.release(name)
                with contextlib.suppress(Exception):
                    await self._delete_tokens(name)
                raise
            finally:
                self.in_flight.discard(name)
                self._metrics.vm_launches.labels(
                    self.tenant, action.pool, str(action.reason), result
                ).inc()

    def reserve(self, launch: NamedLaunch, now: float) -> None:
        """Hold the host capacity the plan packed this VM onto until the provider shows it."""
        host = launch.action.host
        if host is not None and not self.options.dry_run:
            footprint = host_footprint(launch.action.shape)
            self._ledger.reserve(self.tenant, launch.name, host, footprint, now)

    # Delete -------------------------------------------------------------------------------
    async def _delete(self, action: DeleteVM, context: PlanContext) -> None:
        pool = context.vm_pools.get(action.vm, "")
        with log_context(tenant=self.tenant, pool=pool or None, vm=action.vm, node=action.node):
            node = action.node or action.vm
            await self._verify_removal(action, node, pool)
            result = "error"
            try:
                await self._provider.delete(action.vm)
                await self._stop_drain(node)
                await self._delete_node(node)
                await self._delete_tokens(action.vm)
                result = "success"
                log.info("deleted VM %s: %s %s", action.vm, action.reason, action.detail)
            finally:
                self._metrics.vm_deletions.labels(
                    self.tenant, pool, str(action.reason), result
                ).inc()
            self._ledger.release(action.vm)
            self._boot.forget(action.vm)
            warning = deletion_warning(action, pool)
            if warning is not None:
                await self._events.warning(self._tenant_ref, *warning)

    async def _verify_removal(self, action: DeleteVM, node: str, pool: str) -> None:
        """Raise DeletionHeld unless the live state allows deleting the VM of ``node``.

        A VM decided on as never registered (``action.node`` is None) is deleted only if its
        Node does not exist live: if it registered meanwhile, the decision was taken without
        it and is taken again on a view that shows it. For a registered node, the pods on it
        are checked.
        """
        try:
            live = await read_live_node(self._api, node, self.options.verify_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            errors.report_api_error(self.tenant, "list", exc)
            message = (
                f"VM {action.vm} is not deleted: the pods on node {node} could not be read "
                f"live ({_message(exc)})"
            )
            log.warning("%s [%s]", message, action.reason)
            raise DeletionHeld(message) from exc
        if action.node is None and live.exists:
            message = (
                f"VM {action.vm} is not deleted: its Node registered after the decision "
                f"({action.reason}), which is taken again"
            )
            log.info("%s", message)
            raise DeletionHeld(message, live.blocking)
        if live.clear:
            return
        await self._report_held(action, live, pool)
        raise DeletionHeld(_held_message(action, live), live.blocking)

    async def _report_held(self, action: DeleteVM, live: LiveNode, pool: str) -> None:
        message = _held_message(action, live)
        log.warning("%s [%s]", message, action.reason)
        recorder = self._tenant_events or self._events
        refs = [ObjectRef("v1", "Node", live.name, "", live.uid)] if live.exists else []
        if pool:
            refs.append(ObjectRef(KVPOOL_API_VERSION, "NodePool", pool))
        if self._tenant_events is None:
            refs = [self._tenant_ref]
        for ref in refs:
            await recorder.warning(ref, "DisruptionBlocked", message)

    async def _delete_node(self, node: str) -> None:
        try:
            await call_json(self._core.delete_node, node)
            log.info("deleted node %s", node)
        except Exception as exc:
            if not errors.is_api_error(exc) or not errors.is_not_found(exc):
                raise

    async def _delete_tokens(self, vm: str) -> None:
        listing = await call_json(
            self._core.list_namespaced_secret, TOKEN_NAMESPACE, label_selector=f"{VM_LABEL}={vm}"
        )
        for secret in listing.get("items") or []:
            name = (secret.get("metadata") or {}).get("name") if isinstance(secret, dict) else None
            if not isinstance(name, str):
                continue
            try:
                await call_json(self._core.delete_namespaced_secret, name, TOKEN_NAMESPACE)
            except Exception as exc:
                if not errors.is_api_error(exc) or not errors.is_not_found(exc):
                    raise

    # Nodes --------------------------------------------------------------------------------
    async def _node_call(self, node: str, call: Callable[[], Awaitable[bool]]) -> None:
        with log_context(tenant=self.tenant, node=node):
            if not await call():
                log.info("node %s is gone", node)

    def draining(self) -> set[str]:
        return {node for node, task in self._drains.items() if not task.done()}

    def _start_drain(self, node: str) -> None:
        task = self._drains.get(node)
        if task is not None and not task.done():
            return
        self._drains[node] = asyncio.create_task(self._drain(node), name=f"drain {node}")

    async def _drain(self, node: str) -> None:
        with log_context(tenant=self.tenant, node=node):
            try:
                result = await drain(self._api, node, self.options.drain, cluster=self.tenant)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("drain of node %s failed: %s", node, _message(exc))
                return
            if result.done:
                log.info("node %s drained (%d pod(s) evicted)", node, len(result.evicted))
            elif result.not_started:
                log.warning("drain of node %s not done: %s", node, result.not_started)
            else:
                log.info(
                    "node %s not drained yet: %d pod(s) held by disruption budgets, %d remaining",
                    node,
                    len(result.blocked),
                    len(result.remaining),
                )

    async def _stop_drain(self, node: str) -> None:
        task = self._drains.pop(node, None)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def stop(self) -> None:
        """Cancel the drains under way (a new leader resumes them from the node's taint)."""
        for node in list(self._drains):
            await self._stop_drain(node)


def describe(step: Step) -> str:
    """The step for logs and Events: what, on which object, the method that decided it (the
    action's reason) and its detail, as the core wrote them."""
    match step:
        case NamedLaunch(action=action, name=name):
            zone = f" in zone {action.zone}" if action.zone != NO_ZONE else ""
            return (
                f"launch VM {name} ({action.shape}, image {action.image}) in pool {action.pool}"
                f"{zone} for {len(action.pods)} pod(s) [{action.reason}]"
            )
        case DeleteVM():
            node = f" and node {step.node}" if step.node else ""
            return f"delete VM {step.vm}{node} [{step.reason}] {step.detail}".rstrip()
        case CordonNode():
            return f"cordon node {step.node} [{step.reason}] {step.detail}".rstrip()
        case UncordonNode():
            return f"uncordon node {step.node} [{step.reason}] {step.detail}".rstrip()
        case DrainNode():
            return f"drain node {step.node} [{step.reason}] {step.detail}".rstrip()
    return repr(step)


def deletion_warning(action: DeleteVM, pool: str) -> tuple[str, str] | None:
    """The warning Event (reason, message) a successful deletion records, if any."""
    warning = WARNING_DELETIONS.get(action.reason)
    if warning is None:
        return None
    reason, what = warning
    return reason, f"VM {action.vm} of pool {pool or '?'} {what}: {action.detail}"


def _held_message(action: DeleteVM, live: LiveNode) -> str:
    shown = ", ".join(live.blocking[:3])
    more = f" and {len(live.blocking) - 3} more" if len(live.blocking) > 3 else ""
    return (
        f"VM {action.vm} is not deleted: node {live.name} still runs pod {shown}{more} "
        f"({action.reason}: {action.detail or 'no detail'}); retried later"
    )


def _failure_reason(step: Step) -> str:
    if isinstance(step, NamedLaunch):
        return "LaunchFailed"
    if isinstance(step, DeleteVM):
        return "DeleteFailed"
    return "NodeUpdateFailed"


def _message(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return exc.message
    if errors.is_api_error(exc):
        return errors.status_message(exc)
    return f"{type(exc).__name__}: {exc}"
