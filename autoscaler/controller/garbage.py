"""Collects what the labels say is ours and nothing needs any more.

* user-data Secrets whose VM does not exist (a launch interrupted between the two), once they
  have been orphans for the grace period;
* bootstrap tokens in a tenant that expired or whose VM is gone;
* VMs of a TenantCluster that no longer exists, in the VM namespaces our TenantClusters use or
  used, once the TenantCluster cache is synced and healthy, a fresh list confirms it is gone
  and the grace period has passed. A tenant that is merely unreachable keeps its VMs: its
  TenantCluster still exists.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from autoscaler.api.naming import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    TENANT_LABEL,
    USER_DATA_SUFFIX,
    label_value,
    tenant_selector,
)
from autoscaler.controller.tenant import TenantLoop
from autoscaler.core.capacity import HostLedger
from autoscaler.core.timers import FirstSeen
from autoscaler.kube import errors
from autoscaler.kube.bootstrap import cleanup_bootstrap_tokens
from autoscaler.kube.raw import call_json
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import VMProvider

log = logging.getLogger(__name__)

KUBEVIRT = ("kubevirt.io", "v1")
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


class GarbageCollector:
    def __init__(
        self,
        management: ApiClient,
        *,
        ledger: HostLedger,
        tenants: Callable[[], list[TenantLoop]],
        known_tenants: Callable[[], Awaitable[set[str]]],
        vm_namespaces: Callable[[], set[str]],
        tenant_clusters_trusted: Callable[[], bool],
        providers: Callable[[str], VMProvider],
        orphan_grace: float = 300.0,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._core = CoreV1Api(management)
        self._custom = CustomObjectsApi(management)
        self._ledger = ledger
        self._tenants = tenants
        self._known = known_tenants
        self._vm_namespaces = vm_namespaces
        self._trusted = tenant_clusters_trusted
        self._providers = providers
        self._grace = orphan_grace
        self._dry_run = dry_run
        self._clock = clock
        self._orphan_secrets = FirstSeen()
        self._orphan_vms = FirstSeen()
        self.collected: list[str] = []  # what was deleted, for logs and tests

    async def collect(self) -> None:
        for loop in self._tenants():
            if loop.connected:
                await self._collect_tenant(loop)
        await self._collect_removed_tenants()

    # One tenant ---------------------------------------------------------------------------
    async def _collect_tenant(self, loop: TenantLoop) -> None:
        now = self._clock()
        in_flight = set(loop.actuator.in_flight)  # taken before listing: see the launch order
        try:
            vms = {vm.name for vm in await loop.provider.list(loop.name)}
        except ProviderError as exc:
            log.warning("garbage: cannot list VMs of %s: %s", loop.name, exc.message)
            return
        live = vms | in_flight | set(loop.actuator.in_flight)
        await self._user_data_secrets(loop, live, now)
        if self._dry_run:
            return
        try:
            deleted = await cleanup_bootstrap_tokens(
                loop.api, loop.name, live, now, cluster=loop.name
            )
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            log.warning(
                "garbage: bootstrap tokens of %s: %s", loop.name, errors.status_message(exc)
            )
            return
        self.collected.extend(f"token {loop.name}/{name}" for name in deleted)

    async def _user_data_secrets(self, loop: TenantLoop, live: set[str], now: float) -> None:
        namespace = loop.tenant.spec.vm_namespace
        try:
            listing = await call_json(
                self._core.list_namespaced_secret,
                namespace,
                label_selector=tenant_selector(loop.name),
            )
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            log.warning("garbage: Secrets in %s: %s", namespace, errors.status_message(exc))
            return
        orphans = {}
        for secret in _items(listing):
            name = _meta(secret).get("name")
            if not isinstance(name, str) or not name.endswith(USER_DATA_SUFFIX):
                continue
            if name.removesuffix(USER_DATA_SUFFIX) not in live:
                orphans[f"{namespace}/{name}"] = name
        self._orphan_secrets.observe(orphans, now)
        for key, name in orphans.items():
            if self._orphan_secrets.elapsed(key, now) < self._grace:
                continue
            if self._dry_run:
                log.info("dry run: would delete orphaned user-data Secret %s", key)
                continue
            try:
                await call_json(self._core.delete_namespaced_secret, name, namespace)
            except Exception as exc:
                if not errors.is_api_error(exc):
                    raise
                if not errors.is_not_found(exc):
                    log.warning("garbage: Secret %s: %s", key, errors.status_message(exc))
                    continue
            self._orphan_secrets.forget(key)
            self.collected.append(f"secret {key}")
            log.info("deleted orphaned user-data Secret %s", key)

    # Tenants that are gone ----------------------------------------------------------------
    async def _collect_removed_tenants(self) -> None:
        if not self._trusted():
            return
        now = self._clock()
        orphans: dict[str, tuple[str, str]] = {}
        known: set[str] | None = None
        for namespace in sorted(self._vm_namespaces()):
            vms = await self._managed_vms(namespace)
            if not vms:
                continue
            if known is None:
                try:
                    known = {label_value(name) for name in await self._known()}
                except Exception as exc:
                    if not errors.is_api_error(exc):
                        raise
                    log.warning(
                        "garbage: cannot list TenantClusters: %s", errors.status_message(exc)
                    )
                    return
            for vm in vms:
                meta = _meta(vm)
                raw_labels = meta.get("labels")
                labels: dict[str, Any] = raw_labels if isinstance(raw_labels, dict) else {}
                tenant = labels.get(TENANT_LABEL)
                name = meta.get("name")
                if not isinstance(name, str) or not isinstance(tenant, str):
                    continue
                if tenant in known or meta.get("deletionTimestamp"):
                    continue
                orphans[f"{namespace}/{name}"] = (namespace, name)
        self._orphan_vms.observe(orphans, now)
        for key, (namespace, name) in orphans.items():
            if self._orphan_vms.elapsed(key, now) < self._grace:
                continue
            if self._dry_run:
                log.info("dry run: would delete VM %s of a removed TenantCluster", key)
                continue
            try:
                await self._providers(namespace).delete(name)
            except ProviderError as exc:
                log.warning("garbage: VM %s: %s", key, exc.message)
                continue
            self._ledger.release(name)
            self._orphan_vms.forget(key)
            self.collected.append(f"vm {key}")
            log.info("deleted VM %s: its TenantCluster no longer exists", key)

    async def _managed_vms(self, namespace: str) -> list[dict[str, Any]]:
        group, version = KUBEVIRT
        try:
            listing = await call_json(
                self._custom.list_namespaced_custom_object,
                group,
                version,
                namespace,
                "virtualmachines",
                label_selector=MANAGED,
            )
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            if not errors.is_not_found(exc):
                log.warning(
                    "garbage: VirtualMachines in %s: %s", namespace, errors.status_message(exc)
                )
            return []
        return list(_items(listing))


def _items(listing: dict[str, Any]) -> Iterable[dict[str, Any]]:
    items = listing.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}
