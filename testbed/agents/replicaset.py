"""A tiny ReplicaSet controller: keeps N pods of one template in a namespace.

Pods carry the template's labels (the selector) and a controller owner reference of kind
ReplicaSet, so that the autoscaler treats them as replicated (evictable) pods. The owner is not
a stored object: against a real API server, whose garbage collector removes pods whose owner is
missing, use a real ReplicaSet instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from autoscaler.api.naming import is_dns_label, label_key_error, label_value_error
from autoscaler.kube.informer import EventType, Informer
from testbed.agents.base import Agent, ClientSource
from testbed.agents.calls import AgentCallError, Cluster

log = logging.getLogger(__name__)

_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_TERMINAL: Final = ("Succeeded", "Failed")
_OWNER_NAMESPACE: Final = uuid.UUID("6f1c1a4e-2b7d-4c4e-9a8e-5d0f3b2a1c9e")


@dataclass(frozen=True, slots=True)
class Replica:
    name: str
    active: bool  # not terminating and not finished
    bound: bool
    created: str


def replica(obj: Any) -> Replica:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return Replica(
        name=str(meta.get("name", "")),
        active=not meta.get("deletionTimestamp") and status.get("phase") not in _TERMINAL,
        bound=bool((obj.get("spec") or {}).get("nodeName")),
        created=str(meta.get("creationTimestamp", "")),
    )


def check_template(name: str, template: Mapping[str, Any]) -> dict[str, str]:
    """The template's labels (its selector); raises ValueError naming what is wrong."""
    if not is_dns_label(name):
        raise ValueError(f"replicaset name {name!r} is not a DNS-1123 label")
    labels = (template.get("metadata") or {}).get("labels")
    if not isinstance(labels, Mapping) or not labels:
        raise ValueError(f"replicaset {name}: template.metadata.labels must be a non-empty map")
    for key, value in labels.items():
        problem = label_key_error(str(key)) or (
            label_value_error(value) if isinstance(value, str) else "must be a string"
        )
        if problem:
            raise ValueError(f"replicaset {name}: template label {key!r}: {problem}")
    spec = template.get("spec")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("containers"), list):
        raise ValueError(f"replicaset {name}: template.spec.containers must be a list")
    return {str(k): str(v) for k, v in labels.items()}


class ReplicaSetAgent(Agent):
    """``async with ReplicaSetAgent(tenant, "default", "web", 3, template):``"""

    kind = "replicaset-agent"

    def __init__(
        self,
        cluster: ClientSource,
        namespace: str,
        name: str,
        replicas: int,
        template: Mapping[str, Any],
        *,
        seed: int = 0,
        sync_timeout: float = 30.0,
    ) -> None:
        super().__init__(sync_timeout=sync_timeout)
        if replicas < 0:
            raise ValueError(f"replicaset {name}: replicas must not be negative, not {replicas}")
        self.labels = check_template(name, template)
        self.namespace = namespace
        self.name = name
        self.replicas = replicas
        self.template = copy.deepcopy(dict(template))
        self.uid = str(uuid.uuid5(_OWNER_NAMESPACE, f"{namespace}/{name}"))
        self._source = cluster
        self._rng = random.Random(f"{seed}/{namespace}/{name}")
        self._expected: set[str] = set()  # created, not in the cache yet
        self._deleting: set[str] = set()  # deleted, still active in the cache
        self._wake = asyncio.Event()
        self.created = 0

    async def _setup(self) -> None:
        self.cluster = Cluster(await self._client(self._source), "cluster")
        self._expected.clear()
        self._deleting.clear()
        selector = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        self._pods: Informer[Replica] = self._informer(
            f"pods of {self.name}",
            self.cluster.core.list_namespaced_pod,
            replica,
            self._on_pod,
            {"namespace": self.namespace, "label_selector": selector},
        )

    def _run(self) -> None:
        self._spawn(self._loop(), f"replicaset {self.namespace}/{self.name}")

    def scale(self, replicas: int) -> None:
        if replicas < 0:
            raise ValueError(f"replicas must not be negative, not {replicas}")
        self.replicas = replicas
        self._wake.set()

    def _on_pod(self, kind: EventType, key: str, pod: Replica) -> None:
        self._expected.discard(pod.name)
        if kind is EventType.DELETED or not pod.active:
            self._deleting.discard(pod.name)
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except AgentCallError as error:
                log.warning("%s", error)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._wake.wait()
            self._wake.clear()

    async def reconcile(self) -> None:
        active = [
            pod for pod in self._pods.snapshot() if pod.active and pod.name not in self._deleting
        ]
        missing = self.replicas - len(active) - len(self._expected)
        for _ in range(max(0, missing)):
            await self._create()
        if missing < 0:
            # Like the ReplicaSet controller: unbound pods first, then the newest.
            newest_first = sorted(active, key=lambda pod: pod.created, reverse=True)
            extra = sorted(newest_first, key=lambda pod: pod.bound)[:-missing]
            for pod in extra:
                self._deleting.add(pod.name)
                await self._delete(pod.name)

    async def _create(self) -> None:
        core = self.cluster.core
        for _ in range(8):
            name = f"{self.name}-" + "".join(self._rng.choice(_ALPHABET) for _ in range(5))
            body = self._pod(name)
            self._expected.add(name)
            created = await self.cluster.call(
                core.create_namespaced_pod,
                self.namespace,
                body,
                what=f"create pod {self.namespace}/{name}",
                exists_ok=True,
            )
            if created is not None:
                self.created += 1
                return
            self._expected.discard(name)
        raise AgentCallError(f"replicaset {self.name}: no free pod name after 8 attempts")

    async def _delete(self, name: str) -> None:
        await self.cluster.call(
            self.cluster.core.delete_namespaced_pod,
            name,
            self.namespace,
            what=f"delete pod {self.namespace}/{name}",
            missing_ok=True,
        )

    def _pod(self, name: str) -> dict[str, Any]:
        metadata = copy.deepcopy(dict(self.template.get("metadata") or {}))
        metadata.update(
            name=name,
            namespace=self.namespace,
            ownerReferences=[
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": self.name,
                    "uid": self.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        )
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": copy.deepcopy(self.template["spec"]),
        }
