"""One tenant's orphans, collected by a task of its own.

* user-data Secrets (management cluster) whose VM does not exist, a launch interrupted between
  the two, once they have been orphans for the grace period;
* bootstrap tokens in the tenant that expired or whose VM is gone.

Each tenant has its own task, timers and deadline, so a tenant whose API server hangs delays
nobody else's collection, and one tenant's pass never resets another's orphan timers. Nothing is
collected while the tenant is not connected with fresh caches.

A pass lists the candidates first and only then looks at which VMs are live (launches in flight,
then the VMs): a launch makes its token, then its user data, then its VM, so whatever was listed
belongs to a launch that is either still in flight or has its VM by the time we look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api

from autoscaler.api.naming import USER_DATA_SUFFIX, tenant_selector
from autoscaler.controller.tenant import TenantLoop
from autoscaler.core.timers import FirstSeen
from autoscaler.kube import errors
from autoscaler.kube.bootstrap import delete_unneeded_tokens, list_bootstrap_tokens
from autoscaler.kube.tasks import cancel_and_wait
from autoscaler.observability.logging import log_context
from autoscaler.providers.errors import ProviderError
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)


class TenantGarbage:
    def __init__(
        self,
        management: ApiClient,
        loop: TenantLoop,
        *,
        interval: float = 60.0,
        deadline: float = 60.0,
        orphan_grace: float = 300.0,
        dry_run: bool = False,
        is_leader: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._core = CoreV1Api(management)
        self._loop = loop
        self._interval = interval
        self._deadline = deadline
        self._grace = orphan_grace
        self._dry_run = dry_run
        self._is_leader = is_leader
        self._clock = clock
        self._orphan_secrets = FirstSeen()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # finished passes, for tests
        self.collected: list[str] = []  # what was deleted, for logs and tests

    @property
    def tenant(self) -> str:
        return self._loop.name

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"garbage {self.tenant}")
        return self._task

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if not self._is_leader():
                continue
            with log_context(tenant=self.tenant):
                deadline = asyncio.timeout(self._deadline)
                try:
                    # A pass past its deadline is abandoned; the next one starts over.
                    async with deadline:
                        await self.collect()
                except TimeoutError:
                    if not deadline.expired():
                        log.exception("garbage: the pass of tenant %s failed", self.tenant)
                        continue
                    log.warning(
                        "garbage: the pass of tenant %s took longer than %gs, abandoned",
                        self.tenant,
                        self._deadline,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("garbage: the pass of tenant %s failed", self.tenant)

    async def collect(self) -> None:
        """One pass, if the tenant is connected with fresh caches.

        User data (on the management cluster) goes first, so that a tenant API server that
        hangs holds up its tokens only.
        """
        loop = self._loop
        if not loop.connected or not loop.sources.fresh:
            return
        now = self._clock()
        secrets = await self._user_data_secrets()
        if secrets is not None and (live := await self._live()) is not None:
            await self._collect_user_data(secrets, live, now)
        if not self._dry_run:
            tokens = await self._bootstrap_tokens()
            if tokens is not None and (live := await self._live()) is not None:
                deleted = await delete_unneeded_tokens(
                    loop.api, tokens, live, now, cluster=loop.name
                )
                self.collected.extend(f"token {loop.name}/{name}" for name in deleted)
        self.passes += 1

    async def _live(self) -> set[str] | None:
        """The VMs that exist or are being launched, looked at after the candidates."""
        loop = self._loop
        in_flight = set(loop.actuator.in_flight)  # before the VMs: see the launch order
        try:
            vms = {vm.name for vm in await loop.provider.list(loop.name)}
        except ProviderError as exc:
            log.warning("garbage: cannot list VMs of %s: %s", loop.name, exc.message)
            return None
        return vms | in_flight

    async def _bootstrap_tokens(self) -> list[dict[str, Any]] | None:
        loop = self._loop
        try:
            return await list_bootstrap_tokens(loop.api, loop.name)
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            log.warning(
                "garbage: bootstrap tokens of %s: %s", loop.name, errors.status_message(exc)
            )
            return None

    async def _user_data_secrets(self) -> dict[str, str] | None:
        """This tenant's user-data Secrets: name by ``namespace/name``."""
        loop = self._loop
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
            return None
        found = {}
        for secret in _items(listing):
            meta = secret.get("metadata")
            name = meta.get("name") if isinstance(meta, dict) else None
            if isinstance(name, str) and name.endswith(USER_DATA_SUFFIX):
                found[f"{namespace}/{name}"] = name
        return found

    async def _collect_user_data(self, secrets: dict[str, str], live: set[str], now: float) -> None:
        namespace = self._loop.tenant.spec.vm_namespace
        orphans = {
            key: name
            for key, name in secrets.items()
            if name.removesuffix(USER_DATA_SUFFIX) not in live
        }
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


def _items(listing: dict[str, Any]) -> list[dict[str, Any]]:
    items = listing.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
