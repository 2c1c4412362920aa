"""Cordon, uncordon and drain a tenant's node, the way ``kubectl drain`` does it.

Pods leave through the Eviction API so that PodDisruptionBudgets hold: an eviction a budget
refuses (429) is retried with backoff until the deadline. DaemonSet pods, mirror (static) pods
and finished pods stay; they go with the node.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.core.config import DISRUPTING_TAINT_EFFECT, DISRUPTING_TAINT_KEY
from autoscaler.kube import errors
from autoscaler.kube.backoff import Backoff
from autoscaler.kube.raw import MERGE_PATCH, api_exception, call_json

log = logging.getLogger(__name__)

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
_CONFLICT_RETRIES = 5


@dataclass(frozen=True, slots=True)
class DrainSettings:
    timeout: float = 120.0  # for the whole drain: evictions and waiting for pods to go
    poll_interval: float = 1.0  # how often to look whether evicted pods are gone
    backoff_base: float = 1.0  # between refused evictions
    backoff_max: float = 15.0
    grace_period_seconds: int | None = None  # None: each pod's own


@dataclass(frozen=True, slots=True)
class DrainResult:
    """Pod keys (``namespace/name``) by outcome."""

    evicted: tuple[str, ...] = ()  # evicted and gone
    blocked: tuple[str, ...] = ()  # a PodDisruptionBudget refused until the deadline
    remaining: tuple[str, ...] = ()  # still on the node for another reason

    @property
    def done(self) -> bool:
        return not self.blocked and not self.remaining


class _Outcome(Enum):
    EVICTED = "evicted"
    GONE = "gone"
    BLOCKED = "blocked"
    FAILED = "failed"


# Cordon ----------------------------------------------------------------------------------


async def cordon(api: ApiClient, node: str, reason: str = "", *, cluster: str = "") -> bool:
    """Mark ``node`` unschedulable with the disrupting taint; False if the node is gone."""
    return await _patch_node(api, node, cordoned=True, reason=reason, cluster=cluster)


async def uncordon(api: ApiClient, node: str, *, cluster: str = "") -> bool:
    """Undo :func:`cordon`; False if the node is gone."""
    return await _patch_node(api, node, cordoned=False, reason="", cluster=cluster)


def cordon_patch(node: dict[str, Any], cordoned: bool, reason: str) -> dict[str, Any] | None:
    """The merge patch that (un)cordons ``node``, or None when it is already so.

    ``spec.taints`` is replaced as a whole by a merge patch, so the patch carries the node's
    other taints and its resourceVersion: a concurrent change makes it fail with 409.
    """
    spec = _section(node, "spec")
    taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
    others = [t for t in taints if t.get("key") != DISRUPTING_TAINT_KEY]
    wanted = others + (
        [{"key": DISRUPTING_TAINT_KEY, "value": reason, "effect": str(DISRUPTING_TAINT_EFFECT)}]
        if cordoned
        else []
    )
    if bool(spec.get("unschedulable")) == cordoned and _same_taints(taints, wanted):
        return None
    meta = _section(node, "metadata")
    return {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "spec": {"unschedulable": cordoned or None, "taints": wanted or None},
    }


def _section(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = obj.get(name)
    return value if isinstance(value, dict) else {}


def _same_taints(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    def key(t: dict[str, Any]) -> tuple[str, str, str]:
        return (str(t.get("key")), str(t.get("value") or ""), str(t.get("effect")))

    return sorted(map(key, current)) == sorted(map(key, wanted))


async def _patch_node(
    api: ApiClient, node: str, *, cordoned: bool, reason: str, cluster: str
) -> bool:
    core = client.CoreV1Api(api)
    for _ in range(_CONFLICT_RETRIES):
        try:
            current = await call_json(core.read_node, node)
            patch = cordon_patch(current, cordoned, reason)
            if patch is None:
                return True
            await call_json(core.patch_node, node, patch, _content_type=MERGE_PATCH)
            log.info("node %s %s", node, "cordoned" if cordoned else "uncordoned")
            return True
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            if errors.is_not_found(exc):
                return False
            if not errors.is_conflict(exc):
                errors.report_api_error(cluster, "patch", exc)
                raise
    raise api_exception(409, f"node {node} kept changing while being (un)cordoned")


# Drain -----------------------------------------------------------------------------------


def _key(pod: dict[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _uid(pod: dict[str, Any]) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")


def must_evict(pod: dict[str, Any]) -> bool:
    """Whether a drain evicts this pod (DaemonSet, mirror and finished pods stay)."""
    meta = pod.get("metadata") or {}
    if MIRROR_POD_ANNOTATION in (meta.get("annotations") or {}):
        return False
    for ref in meta.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") and ref.get("kind") == "DaemonSet":
            return False
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


async def _pods_on(core: client.CoreV1Api, node: str) -> list[dict[str, Any]]:
    body = await call_json(core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}")
    items = body.get("items") or []
    return [p for p in items if isinstance(p, dict)]


async def drain(
    api: ApiClient,
    node: str,
    settings: DrainSettings | None = None,
    *,
    cluster: str = "",
) -> DrainResult:
    """Evict every pod that must go from ``node`` and wait until they are gone.

    Returns when the node is empty of such pods or at the deadline; never raises for an API
    error after the initial listing (the failures end up in ``remaining``).
    """
    settings = settings or DrainSettings()
    deadline = time.monotonic() + settings.timeout
    core = client.CoreV1Api(api)
    pods = [p for p in await _pods_on(core, node) if must_evict(p)]
    to_evict = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    outcomes = await asyncio.gather(
        *(_evict(core, pod, deadline, settings, cluster) for pod in to_evict)
    )
    by_key = {_key(p): o for p, o in zip(to_evict, outcomes, strict=True)}
    leaving = {
        _key(p): _uid(p)
        for p in pods
        if by_key.get(_key(p), _Outcome.EVICTED) in (_Outcome.EVICTED, _Outcome.GONE)
    }
    still_there = await _wait_gone(core, node, leaving, deadline, settings, cluster)
    return DrainResult(
        evicted=tuple(sorted(k for k in leaving if k not in still_there)),
        blocked=tuple(sorted(k for k, o in by_key.items() if o is _Outcome.BLOCKED)),
        remaining=tuple(
            sorted(set(still_there) | {k for k, o in by_key.items() if o is _Outcome.FAILED})
        ),
    )


async def _evict(
    core: client.CoreV1Api,
    pod: dict[str, Any],
    deadline: float,
    settings: DrainSettings,
    cluster: str,
) -> _Outcome:
    meta = pod["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    body: dict[str, Any] = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": name, "namespace": namespace},
    }
    delete_options: dict[str, Any] = {"preconditions": {"uid": _uid(pod)}} if _uid(pod) else {}
    if settings.grace_period_seconds is not None:
        delete_options["gracePeriodSeconds"] = settings.grace_period_seconds
    if delete_options:
        body["deleteOptions"] = delete_options
    backoff = Backoff(settings.backoff_base, max(settings.backoff_max, settings.backoff_base))
    refused_by_budget = False
    while True:
        try:
            await call_json(core.create_namespaced_pod_eviction, name, namespace, body)
            log.info("evicted pod %s/%s", namespace, name)
            return _Outcome.EVICTED
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            kind = errors.classify(exc)
            if kind is errors.ErrorKind.NOT_FOUND or (
                kind is errors.ErrorKind.CONFLICT and "uid" in errors.status_message(exc).lower()
            ):
                return _Outcome.GONE  # gone already, or replaced by a pod with another uid
            if kind is errors.ErrorKind.TOO_MANY_REQUESTS:
                refused_by_budget = True
                log.info(
                    "eviction of %s/%s refused: %s", namespace, name, errors.status_message(exc)
                )
            else:
                errors.report_api_error(cluster, "evict", exc)
                log.warning(
                    "eviction of %s/%s failed: %s", namespace, name, errors.status_message(exc)
                )
                if not errors.is_retryable(exc):
                    return _Outcome.FAILED
        delay = backoff.next()
        if time.monotonic() + delay > deadline:
            return _Outcome.BLOCKED if refused_by_budget else _Outcome.FAILED
        await asyncio.sleep(delay)


async def _wait_gone(
    core: client.CoreV1Api,
    node: str,
    leaving: dict[str, str],
    deadline: float,
    settings: DrainSettings,
    cluster: str,
) -> Sequence[str]:
    """Keys of the pods in ``leaving`` (key -> uid) still on the node at the deadline."""
    pending = dict(leaving)
    while pending:
        try:
            present = {_key(p): _uid(p) for p in await _pods_on(core, node)}
            pending = {k: uid for k, uid in pending.items() if present.get(k) == uid}
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            errors.report_api_error(cluster, "list", exc)
        if not pending or time.monotonic() + settings.poll_interval > deadline:
            break
        await asyncio.sleep(settings.poll_interval)
    return sorted(pending)
