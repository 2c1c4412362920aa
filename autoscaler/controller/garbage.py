"""Collects the VMs that the labels say are ours and whose TenantCluster is gone.

(Each tenant's own orphans, user-data Secrets and bootstrap tokens, are collected by its own
task: see :mod:`autoscaler.controller.tenant_garbage`.)

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

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from autoscaler.api.naming import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    TENANT_LABEL,
    label_value,
)
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.core.timers import FirstSeen
from autoscaler.kube import errors
from autoscaler.providers.errors import ProviderError
from autoscaler.providers.protocol import VMProvider
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

KUBEVIRT = ("kubevirt.io", "v1")
MANAGED = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


class GarbageCollector:
    def __init__(
        self,
        management: ApiClient,
        *,
        ledger: HostCapacityLedger,
        known_tenants: Callable[[], Awaitable[set[str]]],
        vm_namespaces: Callable[[], set[str]],
        tenant_clusters_trusted: Callable[[], bool],
        providers: Callable[[str], VMProvider],
        orphan_grace: float = 300.0,
        dry_run: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._custom = CustomObjectsApi(management)
        self._ledger = ledger
        self._known = known_tenants
        self._vm_namespaces = vm_namespaces
        self._trusted = tenant_clusters_trusted
        self._providers = providers
        self._grace = orphan_grace
        self._dry_run = dry_run
        self._clock = clock
        self._orphan_vms = FirstSeen()
        self.collected: list[str] = []  # what was deleted, for logs and tests

    async def collect(self) -> None:
        await self._collect_removed_tenants()

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
