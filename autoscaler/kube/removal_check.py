"""The live check before a VM is deleted: which pods its Node still hosts, read from the API.

A decision to delete a VM is taken on cached state, which may be stale (a hung watch, a pod
bound after the last event). Deleting the VM kills whatever runs there, so right before the
deletion the pods bound to its Node are listed from the tenant's API server, with a timeout.

A pod blocks the deletion unless it goes with the node anyway or is already leaving:

* DaemonSet and mirror (static) pods belong to the node;
* pods in a terminal phase (Succeeded, Failed) hold nothing;
* pods with a ``deletionTimestamp`` are being deleted: evicted by a drain, or by the taint
  manager on a NotReady node (``pkg/controller/tainteviction`` deletes the pods that do not
  tolerate ``node.kubernetes.io/not-ready`` or ``unreachable`` once their toleration runs out;
  the kubelet of a dead node never confirms, and PodGC removes them once the Node is gone).
  Their controllers have created their replacements already and a budget counts them as
  disrupted.

Every other pod blocks, among them a pod a PodDisruptionBudget kept from being evicted and a
pod on a NotReady node that tolerates the node's taints without limit (it asked to wait for
the node to come back). A read that fails or times out raises: nothing is deleted on doubt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.kube import errors
from autoscaler.kube.drain import must_evict, pod_key
from autoscaler.rawjson import call_json


@dataclass(frozen=True, slots=True)
class LiveNode:
    """What the tenant's API server says about one Node right now."""

    name: str
    exists: bool
    uid: str = ""
    blocking: tuple[str, ...] = ()  # keys (namespace/name) of the pods that block a deletion

    @property
    def clear(self) -> bool:
        return not self.blocking


def is_terminating(pod: dict[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def blocks_removal(pod: dict[str, Any]) -> bool:
    """Whether ``pod`` keeps its node's VM from being deleted (see the module docstring)."""
    return must_evict(pod) and not is_terminating(pod)


async def pods_on_node(api: ApiClient, node: str, seconds: float) -> list[dict[str, Any]]:
    """Every pod bound to ``node``, listed live within ``seconds``
    (``fieldSelector=spec.nodeName=<node>``)."""
    core = client.CoreV1Api(api)
    async with asyncio.timeout(seconds):
        body = await call_json(
            core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
            _request_timeout=seconds,
        )
    items = body.get("items") or []
    return [pod for pod in items if isinstance(pod, dict)]


async def read_live_node(api: ApiClient, node: str, seconds: float) -> LiveNode:
    """The Node and the pods that block deleting it, read live (each read within
    ``seconds``); raises if either read fails.

    Pods bound to a Node that no longer exists are looked at too: until PodGC removes them,
    they may still run on the VM.
    """
    core = client.CoreV1Api(api)
    uid = ""
    exists = True
    try:
        async with asyncio.timeout(seconds):
            obj = await call_json(core.read_node, node, _request_timeout=seconds)
        uid = str((obj.get("metadata") or {}).get("uid") or "")
    except Exception as exc:
        if not (errors.is_api_error(exc) and errors.is_not_found(exc)):
            raise
        exists = False
    pods = await pods_on_node(api, node, seconds)
    blocking = tuple(sorted(pod_key(pod) for pod in pods if blocks_removal(pod)))
    return LiveNode(node, exists, uid, blocking)
