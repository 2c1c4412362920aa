"""A minimal kube-scheduler (and the kubelet's pod start) for API servers that have none.

It watches pods and Nodes; binds each pending pod of its scheduler name through
``pods/binding`` to a Ready, schedulable Node where the core's predicates say it fits (its
persistent volumes constraining it as kube-scheduler's volume filters do); marks
the others ``PodScheduled=False`` with reason Unschedulable and kube-scheduler's message, which
is what the autoscaler watches for; and tries them again when Nodes change, when capacity is
freed and every ``retry_seconds``. Acting as the kubelet, it marks pods on Ready Nodes Running
and Ready. Acting as the pod garbage collector, it deletes pods bound to a Node that was deleted.
It does not recreate deleted pods: see :class:`ReplicaSetAgent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from autoscaler.api.timestamps import rfc3339
from autoscaler.core.model import (
    DEFAULT_SCHEDULER,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    PodPhase,
    StorageClass,
)
from autoscaler.core.scheduling import bound_pods_by_node
from autoscaler.core.volume_topology import StorageIndex, constrained
from autoscaler.kube.convert import node_from_dict, pod_from_dict
from autoscaler.kube.convert_storage import pv_from_dict, pvc_from_dict, storage_class_from_dict
from autoscaler.kube.informer import EventType, Informer
from testbed.agents.base import Agent, ClientSource
from testbed.agents.calls import STRATEGIC_MERGE_PATCH, AgentCallError, Cluster
from testbed.agents.decisions import decide
from testbed.agents.kubevirt_objects import running_pod_status

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    scheduler_name: str = DEFAULT_SCHEDULER
    retry_seconds: float = 1.0  # unschedulable pods are tried again at least this often
    batch_seconds: float = 0.01  # changes within this window are handled in one pass
    start_seconds: float = 0.0  # from a pod bound on a Ready Node to Running and Ready
    concurrency: int = 16  # API writes in flight at once
    start_pods: bool = True  # act as the kubelet
    delete_orphans: bool = True  # act as the pod garbage collector
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.retry_seconds <= 0 or self.batch_seconds < 0 or self.start_seconds < 0:
            raise ValueError("retry_seconds must be positive, the other delays not negative")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")


@dataclass(frozen=True, slots=True)
class PodView:
    """A pod as the scheduler keeps it."""

    pod: Pod
    message: str  # of its PodScheduled=False condition, "" otherwise
    started: bool  # Running with Ready=True


def pod_view(obj: Any) -> PodView:
    pod = pod_from_dict(obj)
    message, ready = "", False
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if not isinstance(condition, dict):
            continue
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = str(condition.get("message") or "")
        if condition.get("type") == "Ready":
            ready = condition.get("status") == "True"
    return PodView(pod, message, ready and pod.phase is PodPhase.RUNNING)


class SchedulerAgent(Agent):
    """``async with SchedulerAgent(tenant):`` pending pods get bound or marked Unschedulable."""

    kind = "scheduler-agent"

    def __init__(
        self,
        cluster: ClientSource,
        config: SchedulerConfig | None = None,
        *,
        sync_timeout: float = 30.0,
    ) -> None:
        super().__init__(sync_timeout=sync_timeout)
        self.config = config or SchedulerConfig()
        self._source = cluster
        self._wake = asyncio.Event()
        self._assumed: dict[str, str] = {}  # bound by us, binding not seen in the cache yet
        self._in_flight: set[str] = set()  # pods with a start or delete under way
        self._deleted_nodes: set[str] = set()
        self.passes = 0
        self.bound = 0

    async def _setup(self) -> None:
        self.cluster = Cluster(await self._client(self._source), "cluster")
        self._assumed.clear()
        self._in_flight.clear()
        self._deleted_nodes.clear()
        core = self.cluster.core
        self._pods: Informer[PodView] = self._informer(
            "pods", core.list_pod_for_all_namespaces, pod_view, self._on_pod
        )
        self._nodes: Informer[Node] = self._informer(
            "nodes", core.list_node, node_from_dict, self._on_node
        )
        wake = self._on_storage
        self._claims: Informer[PersistentVolumeClaim] = self._informer(
            "persistentvolumeclaims",
            core.list_persistent_volume_claim_for_all_namespaces,
            pvc_from_dict,
            wake,
        )
        self._volumes: Informer[PersistentVolume] = self._informer(
            "persistentvolumes", core.list_persistent_volume, pv_from_dict, wake
        )
        self._classes: Informer[StorageClass] = self._informer(
            "storageclasses",
            self.cluster.storage.list_storage_class,
            storage_class_from_dict,
            wake,
        )

    def _run(self) -> None:
        self._semaphore = asyncio.Semaphore(self.config.concurrency)
        self._spawn(self._loop(), "schedule")

    def _on_pod(self, kind: EventType, key: str, view: PodView) -> None:
        pod = view.pod
        # A running pod that changed frees nothing and needs nothing: no pass for it.
        if kind is EventType.DELETED or pod.phase is not PodPhase.RUNNING or pod.terminating:
            self._wake.set()

    def _on_storage(self, kind: EventType, key: str, obj: object) -> None:
        self._wake.set()

    def _on_node(self, kind: EventType, key: str, node: Node) -> None:
        if kind is EventType.DELETED:
            self._deleted_nodes.add(node.name)
        else:
            self._deleted_nodes.discard(node.name)
        self._wake.set()

    async def _loop(self) -> None:
        config = self.config
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.retry_seconds):
                    await self._wake.wait()
            if config.batch_seconds:
                await asyncio.sleep(config.batch_seconds)
            self._wake.clear()
            try:
                await self.run_pass()
            except Exception:
                log.exception("scheduling pass failed; trying again")

    async def run_pass(self) -> None:
        """One pass over the caches: bind, mark, start and collect what is due."""
        self.passes += 1
        views = {view.pod.key: view for view in self._pods.snapshot()}
        for key in list(self._assumed):
            view = views.get(key)
            if view is None or view.pod.node_name:
                del self._assumed[key]
        pods = [self._with_assumed(view.pod) for view in views.values()]
        nodes = self._nodes.snapshot()
        pending = self._with_volumes([pod for pod in pods if self._wants(pod)], pods)
        blocked = {pod.key: pod.blocked for pod in pending if pod.blocked}
        pending = [pod for pod in pending if not pod.blocked]
        work: list[Awaitable[None]] = []
        if pending or blocked:
            decision = decide(pending, nodes, bound_pods_by_node(pods))
            for key, node in sorted(decision.bindings.items()):
                self._assumed[key] = node
                work.append(self._bind(views[key].pod, node))
            for key, message in sorted({**decision.unschedulable, **blocked}.items()):
                view = views[key]
                if view.message != message or not view.pod.unschedulable:
                    work.append(self._mark_unschedulable(view.pod, message))
        work.extend(self._kubelet_work(views.values(), nodes))
        if work:
            await asyncio.gather(*work)

    def _with_volumes(self, pending: list[Pod], pods: list[Pod]) -> list[Pod]:
        """``pending`` with their volumes' constraints (or why they block them)."""
        if not any(pod.claims for pod in pending):
            return pending
        index = StorageIndex(
            self._claims.snapshot(), self._volumes.snapshot(), self._classes.snapshot(), pods
        )
        return [constrained(pod, index.constraint(pod)) if pod.claims else pod for pod in pending]

    def _with_assumed(self, pod: Pod) -> Pod:
        node = self._assumed.get(pod.key)
        return pod if node is None else dataclasses.replace(pod, node_name=node)

    def _wants(self, pod: Pod) -> bool:
        return (
            pod.node_name is None
            and pod.scheduler_name == self.config.scheduler_name
            and pod.phase is PodPhase.PENDING
            and not pod.terminating
            and not pod.scheduling_gated
        )

    def _kubelet_work(
        self, views: Iterable[PodView], nodes: Iterable[Node]
    ) -> list[Awaitable[None]]:
        ready = {node.name for node in nodes if node.ready and not node.deleting}
        work: list[Awaitable[None]] = []
        for view in views:
            pod = view.pod
            if pod.key in self._in_flight or pod.terminating or not pod.node_name:
                continue
            if self.config.delete_orphans and pod.node_name in self._deleted_nodes:
                self._in_flight.add(pod.key)
                work.append(self._delete_orphan(pod))
            elif (
                self.config.start_pods
                and pod.node_name in ready
                and pod.phase is PodPhase.PENDING
                and not view.started
            ):
                self._in_flight.add(pod.key)
                self._spawn(self._start(pod), f"start {pod.key}")
        return work

    # Writes ---------------------------------------------------------------------------------
    def _now(self) -> str:
        return rfc3339(self.config.clock())

    async def _bind(self, pod: Pod, node: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": pod.name, "namespace": pod.namespace},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        }
        async with self._semaphore:
            try:
                done = await self.cluster.call(
                    self.cluster.core.create_namespaced_pod_binding,
                    pod.name,
                    pod.namespace,
                    body,
                    what=f"bind pod {pod.key} to {node}",
                    missing_ok=True,
                    exists_ok=True,
                )
            except AgentCallError as error:
                log.warning("%s", error)
                done = None
        if done is None:
            self._assumed.pop(pod.key, None)  # gone, or bound meanwhile: the cache will tell
        else:
            self.bound += 1

    async def _mark_unschedulable(self, pod: Pod, message: str) -> None:
        since = pod.unschedulable_since
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(since) if since else self._now(),
        }
        async with self._semaphore:
            try:
                await self.cluster.call(
                    self.cluster.core.patch_namespaced_pod_status,
                    pod.name,
                    pod.namespace,
                    {"status": {"conditions": [condition]}},
                    what=f"mark pod {pod.key} Unschedulable",
                    missing_ok=True,
                    _content_type=STRATEGIC_MERGE_PATCH,
                )
            except AgentCallError as error:
                log.warning("%s", error)

    async def _start(self, pod: Pod) -> None:
        try:
            if self.config.start_seconds:
                await asyncio.sleep(self.config.start_seconds)
            async with self._semaphore:
                await self.cluster.call(
                    self.cluster.core.patch_namespaced_pod_status,
                    pod.name,
                    pod.namespace,
                    {"status": running_pod_status(self._now())},
                    what=f"start pod {pod.key}",
                    missing_ok=True,
                    _content_type=STRATEGIC_MERGE_PATCH,
                )
        except AgentCallError as error:
            log.warning("%s", error)
        finally:
            self._in_flight.discard(pod.key)

    async def _delete_orphan(self, pod: Pod) -> None:
        try:
            async with self._semaphore:
                await self.cluster.call(
                    self.cluster.core.delete_namespaced_pod,
                    pod.name,
                    pod.namespace,
                    what=f"delete pod {pod.key} of deleted Node {pod.node_name}",
                    missing_ok=True,
                    grace_period_seconds=0,
                )
        except AgentCallError as error:
            log.warning("%s", error)
        finally:
            self._in_flight.discard(pod.key)
