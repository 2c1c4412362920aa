"""Leader election on a ``coordination.k8s.io/v1`` Lease, with client-go's semantics.

A candidate takes the Lease when it is free or its holder has not renewed it for
``leaseDurationSeconds`` (measured on the local clock from when this candidate last saw the
record change, so clock skew between replicas does not matter). The leader renews every
``retry_period``; if no renewal succeeded for ``renew_deadline`` it steps down, and it
releases the Lease when stopped so that a standby takes over at once. Every write carries the
resourceVersion it read: a concurrent writer gets 409 and tries again later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.kube import errors
from autoscaler.kube.tasks import cancel_and_wait
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2  # client-go's: retries wait retry_period * [1, 1.2)


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    namespace: str
    name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if self.lease_duration < 1:
            raise ValueError("lease duration must be at least 1 second")
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease duration must be greater than the renew deadline")
        if not self.renew_deadline > JITTER_FACTOR * self.retry_period:
            raise ValueError("renew deadline must be greater than 1.2 times the retry period")
        if self.retry_period <= 0:
            raise ValueError("retry period must be positive")


def micro_time(timestamp: float) -> str:
    """A ``metav1.MicroTime``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Callback = Callable[[], None]


class LeaderElector:
    """Campaigns for one Lease until stopped; :attr:`is_leader` is set while leading."""

    def __init__(
        self,
        api: ApiClient,
        config: LeaderElectionConfig,
        *,
        on_started_leading: Callback | None = None,
        on_stopped_leading: Callback | None = None,
        cluster: str = "management",
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.is_leader = asyncio.Event()
        self.observed_holder: str | None = None
        self._api = client.CoordinationV1Api(api)
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._cluster = cluster
        self._rng = rng or random.Random()
        self._observed_record: tuple[Any, ...] | None = None
        self._observed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        return self.is_leader.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"leader {self.config.name}")
        return self._task

    async def stop(self) -> None:
        """Stop campaigning; a leader releases the Lease."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def run(self) -> None:
        try:
            while True:
                await self._acquire()
                self._set_leading(True)
                await self._renew_until_lost()
                self._set_leading(False)
        finally:
            if self.leading:
                self._set_leading(False)
                await asyncio.shield(self._release())

    # The loops ----------------------------------------------------------------------------
    async def _acquire(self) -> None:
        while True:
            if await self._attempt(self.config.renew_deadline):
                return
            await asyncio.sleep(self._jittered(self.config.retry_period))

    async def _renew_until_lost(self) -> None:
        cfg = self.config
        last_renewal = time.monotonic()
        while True:
            await asyncio.sleep(cfg.retry_period)
            remaining = cfg.renew_deadline - (time.monotonic() - last_renewal)
            if remaining > 0 and await self._attempt(remaining):
                last_renewal = time.monotonic()
            elif time.monotonic() - last_renewal >= cfg.renew_deadline:
                log.warning(
                    "lease %s/%s: not renewed for %.1fs, stepping down",
                    cfg.namespace,
                    cfg.name,
                    cfg.renew_deadline,
                )
                return

    def _jittered(self, period: float) -> float:
        return period * self._rng.uniform(1.0, JITTER_FACTOR)

    def _set_leading(self, leading: bool) -> None:
        if leading == self.leading:
            return
        callback = self._on_started if leading else self._on_stopped
        if leading:
            self.is_leader.set()
            log.info("lease %s/%s: became leader", self.config.namespace, self.config.name)
        else:
            self.is_leader.clear()
            log.info("lease %s/%s: stopped leading", self.config.namespace, self.config.name)
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("leader election callback failed")

    # One attempt --------------------------------------------------------------------------
    async def _attempt(self, budget: float) -> bool:
        try:
            async with asyncio.timeout(max(budget, 0.05)):
                return await self._try_acquire_or_renew()
        except TimeoutError:
            log.warning("lease %s: attempt timed out", self.config.name)
            return False
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            errors.report_api_error(self._cluster, "update", exc)
            log.warning("lease %s: %s", self.config.name, errors.status_message(exc))
            return False

    async def _try_acquire_or_renew(self) -> bool:
        cfg = self.config
        now = time.time()
        try:
            lease = await call_json(self._api.read_namespaced_lease, cfg.name, cfg.namespace)
        except Exception as exc:
            if not errors.is_not_found(exc):
                raise
            return await self._create(now)
        spec = lease.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        holder = spec.get("holderIdentity") or ""
        record = (holder, spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = time.monotonic()
        self.observed_holder = holder or None
        duration = spec.get("leaseDurationSeconds")
        duration = duration if isinstance(duration, int) and duration > 0 else cfg.lease_duration
        if holder and holder != cfg.identity:
            if self._observed_at + duration > time.monotonic():
                return False  # held by someone else who renewed recently
            log.info("lease %s: holder %s expired, taking over", cfg.name, holder)
        transitions = spec.get("leaseTransitions")
        transitions = transitions if isinstance(transitions, int) else 0
        new_spec = {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": math.ceil(cfg.lease_duration),
            "renewTime": micro_time(now),
            "acquireTime": spec.get("acquireTime") if holder == cfg.identity else micro_time(now),
            "leaseTransitions": transitions if holder == cfg.identity else transitions + 1,
        }
        lease["spec"] = {**spec, **new_spec}
        try:
            await call_json(self._api.replace_namespaced_lease, cfg.name, cfg.namespace, lease)
        except Exception as exc:
            if errors.is_conflict(exc):
                return False  # someone wrote in between; look again next time
            raise
        self._observe_own(lease["spec"])
        return True

    async def _create(self, now: float) -> bool:
        cfg = self.config
        spec = {
            "holderIdentity": cfg.identity,
            "leaseDurationSeconds": math.ceil(cfg.lease_duration),
            "acquireTime": micro_time(now),
            "renewTime": micro_time(now),
            "leaseTransitions": 0,
        }
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": cfg.name, "namespace": cfg.namespace},
            "spec": spec,
        }
        try:
            await call_json(self._api.create_namespaced_lease, cfg.namespace, body)
        except Exception as exc:
            if errors.is_conflict(exc):
                return False  # another candidate created it first
            raise
        self._observe_own(spec)
        return True

    def _observe_own(self, spec: dict[str, Any]) -> None:
        self._observed_record = (
            spec["holderIdentity"],
            spec["renewTime"],
            spec["leaseTransitions"],
        )
        self._observed_at = time.monotonic()
        self.observed_holder = self.config.identity

    async def _release(self) -> None:
        """Give the Lease up so that a standby need not wait for it to expire."""
        cfg = self.config
        try:
            async with asyncio.timeout(cfg.retry_period * 2):
                lease = await call_json(self._api.read_namespaced_lease, cfg.name, cfg.namespace)
                spec = lease.get("spec")
                if not isinstance(spec, dict) or spec.get("holderIdentity") != cfg.identity:
                    return
                now = micro_time(time.time())
                spec.update(
                    holderIdentity="", leaseDurationSeconds=1, renewTime=now, acquireTime=now
                )
                await call_json(self._api.replace_namespaced_lease, cfg.name, cfg.namespace, lease)
                log.info("lease %s/%s: released", cfg.namespace, cfg.name)
        except Exception as exc:
            log.warning("lease %s: release failed: %s", cfg.name, errors.status_message(exc))
