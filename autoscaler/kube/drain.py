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

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord
from autoscaler.core.config import DISRUPTING_TAINT_EFFECT, DISRUPTING_TAINT_KEY
from autoscaler.kube import errors
from autoscaler.kube.backoff import RetryBackoff
from autoscaler.rawjson import MERGE_PATCH, api_exception, call_json

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
    request_timeout: float = 10.0  # for each API request
    write_attempts: int = 6  # a cordon or uncordon that keeps failing is given up after this


@dataclass(frozen=True, slots=True)
class DrainResult:
    """Pod keys (``namespace/name``) by outcome."""

    evicted: tuple[str, ...] = ()  # evicted and gone
    blocked: tuple[str, ...] = ()  # a PodDisruptionBudget refused until the deadline
    remaining: tuple[str, ...] = ()  # still on the node for another reason
    not_started: str = ""  # why the drain did not start or could not be confirmed

    @property
    def done(self) -> bool:
        return not self.blocked and not self.remaining and not self.not_started


class _Outcome(Enum):
    EVICTED = "evicted"
    GONE = "gone"
    BLOCKED = "blocked"
    FAILED = "failed"


# Cordon ----------------------------------------------------------------------------------


async def cordon(
    api: ApiClient,
    node: str,
    record: DisruptionRecord,
    settings: DrainSettings | None = None,
    *,
    cluster: str = "",
) -> bool:
    """Mark ``node`` unschedulable with the disrupting taint and record the disruption on it;
    False if the node is gone. A record already on the node (a disruption being resumed) is
    kept. A failed write is retried with backoff; the error of the last attempt is raised."""
    return await _patch_node(api, node, record, settings or DrainSettings(), cluster=cluster)


async def uncordon(
    api: ApiClient, node: str, settings: DrainSettings | None = None, *, cluster: str = ""
) -> bool:
    """Undo :func:`cordon` (taint, cordon and record); False if the node is gone."""
    return await _patch_node(api, node, None, settings or DrainSettings(), cluster=cluster)


def is_cordoned(node: dict[str, Any]) -> bool:
    """Whether ``node`` is cordoned and carries the disrupting taint."""
    spec = _section(node, "spec")
    taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
    return bool(spec.get("unschedulable")) and any(
        t.get("key") == DISRUPTING_TAINT_KEY for t in taints
    )


def cordon_patch(node: dict[str, Any], record: DisruptionRecord | None) -> dict[str, Any] | None:
    """The merge patch that cordons ``node`` for the disruption ``record`` (None: uncordons it),
    or None when it is already so.

    ``spec.taints`` is replaced as a whole by a merge patch, so the patch carries the node's
    other taints and its resourceVersion: a concurrent change makes it fail with 409.
    """
    cordoned = record is not None
    spec = _section(node, "spec")
    meta = _section(node, "metadata")
    annotations = _section(meta, "annotations")
    taints = [t for t in spec.get("taints") or [] if isinstance(t, dict)]
    others = [t for t in taints if t.get("key") != DISRUPTING_TAINT_KEY]
    mine = [t for t in taints if t.get("key") == DISRUPTING_TAINT_KEY]
    wanted = others
    if record is not None:
        # A resumed disruption keeps the method it was started with.
        value = str(mine[0].get("value") or record.method) if mine else record.method
        taint = {"key": DISRUPTING_TAINT_KEY, "value": value}
        wanted = [*others, {**taint, "effect": str(DISRUPTING_TAINT_EFFECT)}]
    recorded = DISRUPTION_ANNOTATION in annotations
    if (
        bool(spec.get("unschedulable")) == cordoned
        and _same_taints(taints, wanted)
        and recorded == cordoned
    ):
        return None
    patch: dict[str, Any] = {
        "metadata": {"resourceVersion": meta.get("resourceVersion")},
        "spec": {"unschedulable": cordoned or None, "taints": wanted or None},
    }
    if record is not None and not recorded:
        patch["metadata"]["annotations"] = {DISRUPTION_ANNOTATION: record.encode()}
    elif record is None and recorded:
        patch["metadata"]["annotations"] = {DISRUPTION_ANNOTATION: None}
    return patch


def _section(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = obj.get(name)
    return value if isinstance(value, dict) else {}


def _same_taints(current: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> bool:
    def key(t: dict[str, Any]) -> tuple[str, str, str]:
        return (str(t.get("key")), str(t.get("value") or ""), str(t.get("effect")))

    return sorted(map(key, current)) == sorted(map(key, wanted))


async def _patch_node(
    api: ApiClient,
    node: str,
    record: DisruptionRecord | None,
    settings: DrainSettings,
    *,
    cluster: str,
) -> bool:
    core = client.CoreV1Api(api)
    what = "cordon" if record is not None else "uncordon"
    backoff = RetryBackoff(settings.backoff_base, max(settings.backoff_max, settings.backoff_base))
    conflicts = failures = 0
    while True:
        try:
            current = await _timed(settings, core.read_node, node)
            patch = cordon_patch(current, record)
            if patch is None:
                return True
            await _timed(settings, core.patch_node, node, patch, _content_type=MERGE_PATCH)
            log.info("node %s %sed", node, what)
            return True
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            if errors.is_not_found(exc):
                return False
            if errors.is_conflict(exc):
                conflicts += 1
                if conflicts >= _CONFLICT_RETRIES:
                    raise api_exception(
                        409, f"node {node} kept changing while being {what}ed"
                    ) from exc
                continue
            errors.report_api_error(cluster, "patch", exc)
            failures += 1
            if not errors.is_retryable(exc) or failures >= settings.write_attempts:
                raise
            delay = backoff.next()
            log.warning(
                "%s of node %s failed (attempt %d of %d), retrying in %.1fs: %s",
                what,
                node,
                failures,
                settings.write_attempts,
                delay,
                errors.status_message(exc),
            )
            await asyncio.sleep(delay)


async def _timed(settings: DrainSettings, call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """One API call with the settings' request timeout (the client's and our own)."""
    timeout = settings.request_timeout
    async with asyncio.timeout(timeout):
        return await call_json(call, *args, _request_timeout=timeout, **kwargs)


# Drain -----------------------------------------------------------------------------------


def pod_key(pod: dict[str, Any]) -> str:
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


async def _pods_on(
    core: client.CoreV1Api, node: str, settings: DrainSettings
) -> list[dict[str, Any]]:
    body = await _timed(
        settings, core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}"
    )
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

    A node that is not cordoned with the disrupting taint is not drained (``not_started``
    says why): evicted pods would come straight back. The drain is done only when a final
    live listing shows none of the pods it must move, those that arrived meanwhile included.
    Returns when the node is empty of such pods or at the deadline; never raises for an API
    error after the initial reads (the failures end up in ``remaining``).
    """
    settings = settings or DrainSettings()
    deadline = time.monotonic() + settings.timeout
    core = client.CoreV1Api(api)
    try:
        current = await _timed(settings, core.read_node, node)
    except Exception as exc:
        if errors.is_api_error(exc) and errors.is_not_found(exc):
            return DrainResult(not_started=f"node {node} does not exist")
        raise
    if not is_cordoned(current):
        return DrainResult(not_started=f"node {node} is not cordoned by the autoscaler")
    pods = [p for p in await _pods_on(core, node, settings) if must_evict(p)]
    to_evict = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    outcomes = await asyncio.gather(
        *(_evict(core, pod, deadline, settings, cluster) for pod in to_evict)
    )
    by_key = {pod_key(p): o for p, o in zip(to_evict, outcomes, strict=True)}
    leaving = {
        pod_key(p): _uid(p)
        for p in pods
        if by_key.get(pod_key(p), _Outcome.EVICTED) in (_Outcome.EVICTED, _Outcome.GONE)
    }
    still_there = await _wait_gone(core, node, leaving, deadline, settings, cluster)
    remaining = set(still_there) | {k for k, o in by_key.items() if o is _Outcome.FAILED}
    blocked = {k for k, o in by_key.items() if o is _Outcome.BLOCKED}
    if not remaining and not blocked:
        late = await _arrived_meanwhile(core, node, settings, cluster)
        if late is None:
            return DrainResult(
                evicted=tuple(sorted(leaving)), not_started="the final pod listing failed"
            )
        remaining |= late
    return DrainResult(
        evicted=tuple(sorted(k for k in leaving if k not in still_there)),
        blocked=tuple(sorted(blocked)),
        remaining=tuple(sorted(remaining)),
    )


async def _arrived_meanwhile(
    core: client.CoreV1Api, node: str, settings: DrainSettings, cluster: str
) -> set[str] | None:
    """Keys of the pods a drain must move that are on the node now (None: cannot tell)."""
    try:
        return {pod_key(p) for p in await _pods_on(core, node, settings) if must_evict(p)}
    except Exception as exc:
        if not errors.is_api_error(exc):
            raise
        errors.report_api_error(cluster, "list", exc)
        return None


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
    backoff = RetryBackoff(settings.backoff_base, max(settings.backoff_max, settings.backoff_base))
    refused_by_budget = False
    while True:
        try:
            await _timed(settings, core.create_namespaced_pod_eviction, name, namespace, body)
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
            present = {pod_key(p): _uid(p) for p in await _pods_on(core, node, settings)}
            pending = {k: uid for k, uid in pending.items() if present.get(k) == uid}
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            errors.report_api_error(cluster, "list", exc)
        if not pending or time.monotonic() + settings.poll_interval > deadline:
            break
        await asyncio.sleep(settings.poll_interval)
    return sorted(pending)
