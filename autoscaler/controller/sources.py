"""The caches of one tenant cluster: pods, nodes, NodePools, DaemonSets, disruption budgets,
the PersistentVolumeClaims, PersistentVolumes and StorageClasses that place pods with volumes,
and the namespaces (whose labels pod affinity namespace selectors match).

Pods that wait for capacity are tracked as they change, so the loop can batch them without
scanning every pod of the cluster on each event. The caches together are trusted only while every
one of them is fresh (see :mod:`autoscaler.kube.informer`); :meth:`TenantSources.problem` says
which one is not, and why.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio.client import (
    ApiClient,
    AppsV1Api,
    CoreV1Api,
    CustomObjectsApi,
    PolicyV1Api,
    StorageV1Api,
)

from autoscaler.api.models import GROUP, VERSION
from autoscaler.core.model import (
    DaemonSet,
    Namespace,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodDisruptionBudget,
    StorageClass,
)
from autoscaler.core.pending import is_pending
from autoscaler.kube.convert import (
    daemonset_from_dict,
    namespace_from_dict,
    node_from_dict,
    pdb_from_dict,
    pod_from_dict,
)
from autoscaler.kube.convert_storage import pv_from_dict, pvc_from_dict, storage_class_from_dict
from autoscaler.kube.informer import EventType, Informer, InformerSettings

NODEPOOLS = "nodepools"
NON_TERMINAL_PODS = "status.phase!=Succeeded,status.phase!=Failed"

STALE = "Stale"
NOT_SYNCED = "CachesNotSynced"


@dataclass(frozen=True, slots=True)
class CacheProblem:
    """Why a tenant's caches cannot be trusted now: ``reason`` is a condition reason, ``cache``
    the one at fault (the message changes as its silence grows; the cache does not)."""

    reason: str
    message: str
    cache: str


def raw_object(obj: dict[str, Any]) -> dict[str, Any]:
    """A custom object as the controller keeps it: without managedFields."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return obj


class TenantSources:
    """The list+watch caches of one tenant.

    ``on_pending_change(pod, added)`` is called when a pod starts or stops waiting for capacity.
    """

    def __init__(
        self,
        tenant: str,
        api: ApiClient,
        *,
        schedulers: frozenset[str],
        settings: InformerSettings | None = None,
        on_pending_change: Callable[[Pod, bool], None] = lambda pod, added: None,
        on_scheduled: Callable[[Pod, float], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        core = CoreV1Api(api)
        custom = CustomObjectsApi(api)
        common: dict[str, Any] = {"cluster": tenant, "settings": settings}
        self.tenant = tenant
        self.pods: Informer[Pod] = Informer(
            f"{tenant}/pods",
            core.list_pod_for_all_namespaces,
            pod_from_dict,
            list_kwargs={"field_selector": NON_TERMINAL_PODS},
            **common,
        )
        self.nodes: Informer[Node] = Informer(
            f"{tenant}/nodes", core.list_node, node_from_dict, **common
        )
        self.nodepools: Informer[dict[str, Any]] = Informer(
            f"{tenant}/nodepools",
            functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, NODEPOOLS),
            raw_object,
            **common,
        )
        self.daemonsets: Informer[DaemonSet] = Informer(
            f"{tenant}/daemonsets",
            AppsV1Api(api).list_daemon_set_for_all_namespaces,
            daemonset_from_dict,
            **common,
        )
        self.pdbs: Informer[PodDisruptionBudget] = Informer(
            f"{tenant}/poddisruptionbudgets",
            PolicyV1Api(api).list_pod_disruption_budget_for_all_namespaces,
            pdb_from_dict,
            **common,
        )
        self.claims: Informer[PersistentVolumeClaim] = Informer(
            f"{tenant}/persistentvolumeclaims",
            core.list_persistent_volume_claim_for_all_namespaces,
            pvc_from_dict,
            **common,
        )
        self.volumes: Informer[PersistentVolume] = Informer(
            f"{tenant}/persistentvolumes", core.list_persistent_volume, pv_from_dict, **common
        )
        self.storage_classes: Informer[StorageClass] = Informer(
            f"{tenant}/storageclasses",
            StorageV1Api(api).list_storage_class,
            storage_class_from_dict,
            **common,
        )
        self.namespaces: Informer[Namespace] = Informer(
            f"{tenant}/namespaces", core.list_namespace, namespace_from_dict, **common
        )
        self._schedulers = schedulers
        self._on_pending_change = on_pending_change
        self._on_scheduled = on_scheduled
        self._clock = clock
        self.pending: dict[str, Pod] = {}
        self.pods.add_handler(self._pod_changed)

    @property
    def informers(self) -> tuple[Informer[Any], ...]:
        return (
            self.pods,
            self.nodes,
            self.nodepools,
            self.daemonsets,
            self.pdbs,
            self.claims,
            self.volumes,
            self.storage_classes,
            self.namespaces,
        )

    def start(self) -> None:
        for informer in self.informers:
            informer.start()

    async def stop(self) -> None:
        for informer in self.informers:
            await informer.stop()

    async def wait_synced(self) -> None:
        """Wait until every cache has listed once (bound it with ``asyncio.timeout``)."""
        for informer in self.informers:
            await informer.has_synced()

    @property
    def synced(self) -> bool:
        """Every cache listed once (which says nothing about now: see :meth:`problem`)."""
        return all(informer.synced for informer in self.informers)

    @property
    def fresh(self) -> bool:
        return self.problem() is None

    def problem(self) -> CacheProblem | None:
        """Why the caches cannot be trusted now, or None when every one is fresh and healthy.

        A cache that listed once and has not heard from its server within its window is
        ``Stale``, which wins over a failure or a cache not listed yet (``CachesNotSynced``).
        """
        for informer in self.informers:
            staleness = informer.staleness()
            if informer.synced and staleness is not None:
                message = f"cache {informer.name} is stale: {staleness}"
                return CacheProblem(STALE, message, informer.name)
        for informer in self.informers:
            if informer.last_error is not None:
                message = f"{informer.name}: {informer.last_error}"
                return CacheProblem(NOT_SYNCED, message, informer.name)
        for informer in self.informers:
            if not informer.synced:
                message = f"{informer.name}: not synced yet"
                return CacheProblem(NOT_SYNCED, message, informer.name)
        return None

    def failing(self) -> bool:
        """Whether a list or watch failed since the cache last heard from the server."""
        return any(informer.last_error is not None for informer in self.informers)

    def _pod_changed(self, kind: EventType, key: str, pod: Pod) -> None:
        was = self.pending.get(key)
        now_pending = kind is not EventType.DELETED and is_pending(pod, self._schedulers)
        if now_pending:
            self.pending[key] = pod
            if was is None:
                self._on_pending_change(pod, True)
            return
        if was is None:
            return
        del self.pending[key]
        self._on_pending_change(was, False)
        if pod.node_name and self._on_scheduled is not None and was.unschedulable_since:
            self._on_scheduled(pod, max(0.0, self._clock() - was.unschedulable_since))
