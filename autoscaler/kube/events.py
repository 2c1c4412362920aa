"""Kubernetes Events (core/v1) on our objects, deduplicated so a repeating problem cannot flood.

The first occurrence of an event (same object, type, reason and message) creates an Event;
repeats only raise its ``count`` and ``lastTimestamp``, and are sent at most once per
``repeat_interval`` (repeats in between are added up and sent with the next update). Recording
never raises: an event that cannot be written is logged and dropped.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.api.timestamps import rfc3339
from autoscaler.kube import errors
from autoscaler.rawjson import MERGE_PATCH, call_json

log = logging.getLogger(__name__)

COMPONENT = "kubevirt-autoscaler"
MAX_MESSAGE = 1024


class EventKind(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object an Event is about; ``namespace`` empty for cluster-scoped objects."""

    api_version: str
    kind: str
    name: str
    namespace: str = ""
    uid: str = ""

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference to a raw object (needs apiVersion, kind and metadata.name)."""
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace") or ""),
            uid=str(meta.get("uid") or ""),
        )

    def to_kubernetes(self) -> dict[str, str]:
        ref = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name}
        if self.namespace:
            ref["namespace"] = self.namespace
        if self.uid:
            ref["uid"] = self.uid
        return ref


@dataclass(slots=True)
class _Seen:
    name: str
    namespace: str
    count: int  # what the Event in the API says
    unsent: int  # repeats not written yet
    first: float
    sent_at: float


_Key = tuple[ObjectRef, EventKind, str, str]


class EventRecorder:
    def __init__(
        self,
        api: ApiClient,
        *,
        instance: str = "",
        cluster: str = "",
        repeat_interval: float = 60.0,
        max_tracked: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._core = client.CoreV1Api(api)
        self._instance = instance
        self._cluster = cluster
        self._repeat_interval = repeat_interval
        self._max_tracked = max_tracked
        self._clock = clock
        self._seen: OrderedDict[_Key, _Seen] = OrderedDict()

    async def normal(self, ref: ObjectRef, reason: str, message: str) -> None:
        await self.record(ref, reason, message, EventKind.NORMAL)

    async def warning(self, ref: ObjectRef, reason: str, message: str) -> None:
        await self.record(ref, reason, message, EventKind.WARNING)

    async def record(
        self, ref: ObjectRef, reason: str, message: str, kind: EventKind = EventKind.NORMAL
    ) -> None:
        message = message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."
        key: _Key = (ref, kind, reason, message)
        now = self._clock()
        seen = self._seen.get(key)
        try:
            if seen is None:
                self._remember(key, await self._create(ref, reason, message, kind, now))
                return
            self._seen.move_to_end(key)
            seen.unsent += 1
            if now - seen.sent_at >= self._repeat_interval:
                await self._update(ref, reason, message, kind, seen, now)
        except Exception as exc:
            if not errors.is_api_error(exc):
                log.exception("recording event %s on %s %s failed", reason, ref.kind, ref.name)
                return
            errors.report_api_error(self._cluster, "create", exc)
            log.warning(
                "event %s on %s %s not recorded: %s",
                reason,
                ref.kind,
                ref.name,
                errors.status_message(exc),
            )

    def _remember(self, key: _Key, seen: _Seen) -> None:
        self._seen[key] = seen
        while len(self._seen) > self._max_tracked:
            self._seen.popitem(last=False)

    async def _create(
        self, ref: ObjectRef, reason: str, message: str, kind: EventKind, now: float, count: int = 1
    ) -> _Seen:
        namespace = ref.namespace or "default"  # events about cluster-scoped objects live there
        name = f"{ref.name}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref.to_kubernetes(),
            "reason": reason,
            "message": message,
            "type": str(kind),
            "count": count,
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
        }
        await call_json(self._core.create_namespaced_event, namespace, body)
        return _Seen(name=name, namespace=namespace, count=count, unsent=0, first=now, sent_at=now)

    async def _update(
        self, ref: ObjectRef, reason: str, message: str, kind: EventKind, seen: _Seen, now: float
    ) -> None:
        count = seen.count + seen.unsent
        patch = {"count": count, "lastTimestamp": rfc3339(now)}
        try:
            await call_json(
                self._core.patch_namespaced_event,
                seen.name,
                seen.namespace,
                patch,
                _content_type=MERGE_PATCH,
            )
        except Exception as exc:
            if not errors.is_not_found(exc):
                raise
            # The Event expired (the API server keeps them about an hour): start a new one.
            fresh = await self._create(ref, reason, message, kind, now, count)
            seen.name, seen.namespace = fresh.name, fresh.namespace
        seen.count, seen.unsent, seen.sent_at = count, 0, now
