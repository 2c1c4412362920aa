"""One dry-run decision per tenant, for ``kubevirt-autoscaler plan``.

Connects like the controller, lists every cache once, decides once with a fresh core and
returns what it would do; nothing is changed. A fresh core has no timers yet, so scale-down,
which waits for nodes to stay unneeded, does not show in a single decision.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from autoscaler.api.models import GROUP, VERSION, InvalidObject, load_tenant_cluster
from autoscaler.controller.actuator import describe
from autoscaler.controller.launches import NamedLaunch, name_launches
from autoscaler.controller.snapshot import build_snapshot, pools_of
from autoscaler.controller.sources import TenantSources
from autoscaler.controller.status_report import TENANTCLUSTERS
from autoscaler.core.actions import Explanation, Plan
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.kube import errors
from autoscaler.kube.clients import KubeconfigError, SecretKeyRef, TenantClients
from autoscaler.kube.informer import InformerSettings
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.kubevirt import KubeVirtProvider
from autoscaler.rawjson import call_json


@dataclass(frozen=True, slots=True)
class TenantPlan:
    tenant: str
    error: str | None = None
    plan: Plan = field(default_factory=Plan)
    actions: tuple[str, ...] = ()  # each action, described
    pending: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "error": self.error,
            "pending_pods": self.pending,
            "actions": list(self.actions),
            "pending": [_explanation(e) for e in self.plan.explanations],
            "pools": [{"pool": pool, "message": text} for pool, text in self.plan.pool_messages],
        }


def _explanation(explanation: Explanation) -> dict[str, Any]:
    return {
        "verdict": str(explanation.verdict),
        "pods": explanation.pods,
        "sample": list(explanation.sample),
        "pool": explanation.pool,
        "message": explanation.message,
    }


async def plan_tenants(
    management: ApiClient,
    namespace: str,
    *,
    tenant: str | None = None,
    core: CoreConfig | None = None,
    sync_timeout: float = 60.0,
) -> list[TenantPlan]:
    listing = await call_json(
        functools.partial(
            CustomObjectsApi(management).list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            TENANTCLUSTERS,
        )
    )
    objects = [o for o in listing.get("items") or [] if isinstance(o, dict)]
    if tenant is not None:
        objects = [o for o in objects if (o.get("metadata") or {}).get("name") == tenant]
        if not objects:
            return [TenantPlan(tenant, error=f"no TenantCluster {tenant} in {namespace}")]
    clients = TenantClients(management)
    try:
        return [
            await _plan_one(management, clients, obj, namespace, core or CoreConfig(), sync_timeout)
            for obj in objects
        ]
    finally:
        await clients.close()


async def _plan_one(
    management: ApiClient,
    clients: TenantClients,
    obj: dict[str, Any],
    namespace: str,
    core: CoreConfig,
    sync_timeout: float,
) -> TenantPlan:
    name = str((obj.get("metadata") or {}).get("name") or "<unnamed>")
    try:
        cluster = load_tenant_cluster(obj)
        ref = cluster.spec.kubeconfig_secret_ref
        client = await clients.get(name, SecretKeyRef(namespace, ref.name, ref.key))
    except (InvalidObject, KubeconfigError) as exc:
        return TenantPlan(name, error=str(exc))
    except Exception as exc:
        if not errors.is_api_error(exc):
            raise
        return TenantPlan(name, error=errors.status_message(exc))
    sources = TenantSources(
        name,
        client.api,
        schedulers=frozenset(core.scheduler_names),
        settings=InformerSettings(backoff_max=2.0),
    )
    sources.start()
    try:
        try:
            async with asyncio.timeout(sync_timeout):
                await sources.wait_synced()
        except TimeoutError:
            problem = sources.problem()
            why = problem.message if problem is not None else "the caches did not sync"
            return TenantPlan(name, error=f"tenant not reachable: {why}")
        provider = KubeVirtProvider(management, cluster.spec.vm_namespace)
        try:
            vms, hosts = await asyncio.gather(provider.list(name), provider.hosts())
        except ProviderError as exc:
            return TenantPlan(name, error=exc.message)
        snapshot = build_snapshot(
            cluster,
            pods=sources.pods.snapshot(),
            nodes=sources.nodes.snapshot(),
            pools=pools_of(sources.nodepools.snapshot(), cluster),
            vms=vms,
            hosts=hosts,
            daemonsets=sources.daemonsets.snapshot(),
            pdbs=sources.pdbs.snapshot(),
            namespaces=sources.namespaces.snapshot(),
        )
        plan = Autoscaler(core).decide(snapshot, time.time())
        steps = name_launches(name, plan.actions, snapshot.vms)
        return TenantPlan(
            name,
            plan=plan,
            actions=tuple(describe(step) for step in steps),
            pending=len(sources.pending),
        )
    finally:
        with contextlib.suppress(Exception):
            await sources.stop()


__all__ = ["NamedLaunch", "TenantPlan", "plan_tenants"]
