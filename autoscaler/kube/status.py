"""Status conditions on our custom resources, with ``metav1.Condition`` semantics.

``lastTransitionTime`` changes only when a condition's status changes; ``observedGeneration``
records the generation the status speaks about. Patches go to the status subresource as a
JSON merge patch (``kubernetes_asyncio`` would otherwise send a JSON patch) with
``fieldValidation=Strict``. A 404 or 409 is logged and reported as False: the next pass writes
the status again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.api.timestamps import rfc3339
from autoscaler.kube import errors
from autoscaler.rawjson import MERGE_PATCH, call_json

log = logging.getLogger(__name__)

_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_MAX_MESSAGE = 32768


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: bool | None  # None is "Unknown"
    reason: str
    message: str = ""

    def __post_init__(self) -> None:
        if not _REASON.match(self.reason) or len(self.reason) > 1024:
            raise ValueError(f"condition reason {self.reason!r} must be CamelCase")

    @property
    def status_text(self) -> str:
        return "Unknown" if self.status is None else ("True" if self.status else "False")


def merge_conditions(
    existing: Sequence[Mapping[str, Any]],
    updates: Sequence[Condition],
    now: float,
    generation: int | None = None,
) -> list[dict[str, Any]]:
    """``existing`` with ``updates`` applied; conditions not updated are kept as they are."""
    by_type = {str(c.get("type")): dict(c) for c in existing if isinstance(c, Mapping)}
    for update in updates:
        old = by_type.get(update.type)
        status = update.status_text
        transition = (
            old["lastTransitionTime"]
            if old is not None and old.get("status") == status and old.get("lastTransitionTime")
            else rfc3339(now)
        )
        condition: dict[str, Any] = {
            "type": update.type,
            "status": status,
            "reason": update.reason,
            "message": update.message[:_MAX_MESSAGE],
            "lastTransitionTime": transition,
        }
        if generation is not None:
            condition["observedGeneration"] = generation
        by_type[update.type] = condition
    return list(by_type.values())


@dataclass(frozen=True, slots=True)
class CustomResource:
    """Where one custom object lives; ``namespace`` None for cluster-scoped kinds."""

    group: str
    version: str
    plural: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.plural}.{self.group} {where}"


class StatusWriter:
    def __init__(self, api: ApiClient, *, cluster: str = "") -> None:
        self._api = client.CustomObjectsApi(api)
        self._cluster = cluster

    async def update(
        self,
        target: CustomResource,
        conditions: Sequence[Condition] = (),
        fields: Mapping[str, Any] | None = None,
        *,
        now: float,
        current: Mapping[str, Any] | None = None,
    ) -> bool:
        """Apply ``conditions`` and other status ``fields``; True when the status is as asked.

        ``current`` is the object as last seen (saves a read); without it the object is read.
        Nothing is sent when the status already says all that.
        """
        try:
            obj = current if current is not None else await self._read(target)
            meta = obj.get("metadata") or {}
            status = obj.get("status") or {}
            generation = meta.get("generation")
            existing = status.get("conditions") or []
            merged = merge_conditions(
                existing, conditions, now, generation if isinstance(generation, int) else None
            )
            patch: dict[str, Any] = dict(fields or {})
            if conditions:
                patch["conditions"] = merged
            if all(status.get(k) == v for k, v in patch.items()):
                return True
            await self._patch(target, {"status": patch})
            return True
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            kind = errors.classify(exc)
            if kind not in (errors.ErrorKind.NOT_FOUND, errors.ErrorKind.CONFLICT):
                errors.report_api_error(self._cluster, "patch", exc)
            log.warning("status of %s not written: %s", target, errors.status_message(exc))
            return False

    async def _read(self, target: CustomResource) -> dict[str, Any]:
        if target.namespace is None:
            return await call_json(
                self._api.get_cluster_custom_object,
                target.group,
                target.version,
                target.plural,
                target.name,
            )
        return await call_json(
            self._api.get_namespaced_custom_object,
            target.group,
            target.version,
            target.namespace,
            target.plural,
            target.name,
        )

    async def _patch(self, target: CustomResource, body: dict[str, Any]) -> None:
        options = {"_content_type": MERGE_PATCH, "field_validation": "Strict"}
        if target.namespace is None:
            await call_json(
                self._api.patch_cluster_custom_object_status,
                target.group,
                target.version,
                target.plural,
                target.name,
                body,
                **options,
            )
        else:
            await call_json(
                self._api.patch_namespaced_custom_object_status,
                target.group,
                target.version,
                target.namespace,
                target.plural,
                target.name,
                body,
                **options,
            )
