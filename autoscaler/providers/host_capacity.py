"""Bare-metal host capacity from the management cluster's Nodes and the pods bound to them.

Pure functions over the API server's JSON. A host offers its allocatable cpu and memory; what
is allocated is the sum of the effective requests of its non-terminal pods (virt-launcher pods
carry a VM's size plus overhead). A Node or pod with unreadable quantities is reported in
``problems`` and skipped, never the reason the whole listing fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import CPU, EMPTY, MEMORY, Resources
from autoscaler.core.model import Host

SCHEDULABLE_LABEL: Final = "kubevirt.io/schedulable"
HOST_RESOURCES: Final = (CPU, MEMORY)
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})


@dataclass(slots=True)
class HostListing:
    hosts: list[Host] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _host_resources(quantities: Any) -> Resources:
    amounts = _dict(quantities)
    return Resources.parse({k: amounts[k] for k in HOST_RESOURCES if k in amounts})


def _container_requests(container: Any) -> Resources:
    return _host_resources(_dict(_dict(container).get("resources")).get("requests"))


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """cpu and memory a pod holds on its node, as the scheduler counts them.

    The larger of the running containers (with sidecar init containers) and the largest
    ordinary init container (plus the sidecars started before it), plus the pod overhead.
    Raises QuantityError for a malformed quantity.
    """
    spec = _dict(pod.get("spec"))
    running = EMPTY
    for container in _list(spec.get("containers")):
        running = running + _container_requests(container)
    sidecars = EMPTY
    init_peak = EMPTY
    for container in _list(spec.get("initContainers")):
        requests = _container_requests(container)
        if _dict(container).get("restartPolicy") == "Always":
            sidecars = sidecars + requests
        else:
            init_peak = init_peak.max(requests + sidecars)
    return (running + sidecars).max(init_peak) + _host_resources(spec.get("overhead"))


def _ready(node: Mapping[str, Any]) -> bool:
    for condition in _list(_dict(node.get("status")).get("conditions")):
        condition = _dict(condition)
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def hosts_from(nodes: Iterable[Any], pods: Iterable[Any]) -> HostListing:
    """Hosts for the Nodes labelled ``kubevirt.io/schedulable=true``, sorted by name."""
    listing = HostListing()
    allocatable: dict[str, Resources] = {}
    nodes_by_name: dict[str, dict[str, Any]] = {}
    for raw_node in nodes:
        node = _dict(raw_node)
        meta = _dict(node.get("metadata"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            continue
        if _dict(meta.get("labels")).get(SCHEDULABLE_LABEL) != "true":
            continue
        try:
            allocatable[name] = _host_resources(_dict(node.get("status")).get("allocatable"))
        except QuantityError as exc:
            listing.problems.append(f"node {name}: status.allocatable: {exc}")
            continue
        nodes_by_name[name] = node

    allocated: dict[str, Resources] = dict.fromkeys(allocatable, EMPTY)
    for raw_pod in pods:
        pod = _dict(raw_pod)
        node_name = _dict(pod.get("spec")).get("nodeName")
        if node_name not in allocated:
            continue
        if _dict(pod.get("status")).get("phase") in TERMINAL_PHASES:
            continue
        try:
            requests = pod_requests(pod)
        except QuantityError as exc:
            meta = _dict(pod.get("metadata"))
            listing.problems.append(f"pod {meta.get('namespace')}/{meta.get('name')}: {exc}")
            continue
        allocated[node_name] = allocated[node_name] + requests

    for name in sorted(nodes_by_name):
        node = nodes_by_name[name]
        labels = _dict(_dict(node.get("metadata")).get("labels"))
        cordoned = _dict(node.get("spec")).get("unschedulable") is True
        listing.hosts.append(
            Host(
                name=name,
                allocatable=allocatable[name],
                allocated=allocated[name],
                schedulable=_ready(node) and not cordoned,
                labels={k: v for k, v in labels.items() if isinstance(v, str)},
            )
        )
    return listing
