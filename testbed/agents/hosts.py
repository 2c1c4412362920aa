"""Bare-metal hosts and what is placed on them: where the kubevirt agent puts each VMI.

Like KubeVirt (through the management cluster's scheduler), a VMI goes on a host labelled
``kubevirt.io/schedulable=true`` whose nodeSelector, required affinity and taints allow it and
whose free cpu and memory hold the VM's shape plus the virt-launcher overhead. Hosts preferred
by the VM's affinity are tried first, then the others by name (first fit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from autoscaler.api.naming import HOSTNAME_LABEL
from autoscaler.api.resources import CPU, EMPTY, MEMORY, Resources
from autoscaler.core.model import Node, Pod
from autoscaler.core.overhead import host_footprint
from autoscaler.core.predicates import (
    UNSCHEDULABLE,
    insufficient,
    selector_mismatch,
    taint_mismatch,
)
from autoscaler.kube.convert import pod_from_dict
from autoscaler.providers.host_capacity import TERMINAL_PHASES, pod_requests
from autoscaler.providers.kubevirt_status import shape_of
from testbed.agents.reasons import unschedulable_message

NOT_READY: Final = "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class HostPod:
    """A management-cluster pod, as far as host capacity goes."""

    node_name: str  # "" while unbound
    requests: Resources  # cpu and memory
    active: bool  # not Succeeded or Failed


def host_pod_from_dict(obj: Any) -> HostPod:
    """Raises ValueError (a malformed quantity) for a pod the ledger cannot count."""
    pod = _dict(obj)
    node = _dict(pod.get("spec")).get("nodeName")
    phase = _dict(pod.get("status")).get("phase")
    return HostPod(
        node if isinstance(node, str) else "", pod_requests(pod), phase not in TERMINAL_PHASES
    )


@dataclass(frozen=True, slots=True)
class VMDemand:
    """What one VM asks of a host."""

    name: str
    requests: Resources  # shape plus virt-launcher overhead (cpu, memory)
    constraints: Pod  # nodeSelector, required node affinity and tolerations of the VMI
    preferred_hosts: tuple[str, ...] = ()


def vm_demand(vm: Mapping[str, Any]) -> VMDemand:
    """The demand of a VirtualMachine; raises ValueError naming what cannot be read."""
    meta = _dict(vm.get("metadata"))
    name = meta.get("name") if isinstance(meta.get("name"), str) else ""
    spec = _dict(_dict(_dict(vm.get("spec")).get("template")).get("spec"))
    shape = shape_of(vm)
    footprint = host_footprint(shape)
    requests = Resources({CPU: footprint.cpu, MEMORY: footprint.memory})
    synthetic = {
        "metadata": {"name": name or "vm", "namespace": meta.get("namespace") or "default"},
        "spec": {
            key: spec[key] for key in ("nodeSelector", "affinity", "tolerations") if key in spec
        },
    }
    return VMDemand(str(name), requests, pod_from_dict(synthetic), _preferred_hosts(spec))


def _preferred_hosts(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Hosts named by preferred hostname affinity terms, heaviest term first."""
    affinity = _dict(_dict(spec.get("affinity")).get("nodeAffinity"))
    terms = affinity.get("preferredDuringSchedulingIgnoredDuringExecution")
    weighted: list[tuple[int, int, str]] = []
    for index, term in enumerate(terms if isinstance(terms, list) else []):
        weight = _dict(term).get("weight")
        preference = _dict(_dict(term).get("preference"))
        expressions = preference.get("matchExpressions")
        for expression in expressions if isinstance(expressions, list) else []:
            expression = _dict(expression)
            values = expression.get("values")
            if expression.get("key") != HOSTNAME_LABEL or expression.get("operator") != "In":
                continue
            for value in values if isinstance(values, list) else []:
                if isinstance(value, str):
                    rank = -weight if isinstance(weight, int) else 0
                    weighted.append((rank, index, value))
    seen: dict[str, None] = {}
    for _, _, host in sorted(weighted):
        seen.setdefault(host)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class Placement:
    host: str | None  # None: no host has room
    message: str = ""  # why not, as the scheduler would say it


class HostPodLedger:
    """Hosts and the capacity taken on each: by management pods, keyed by pod, so that a
    virt-launcher pod this agent reserved and later sees in its cache counts once."""

    def __init__(self) -> None:
        self._hosts: dict[str, Node] = {}
        self._pods: dict[str, tuple[str, Resources]] = {}
        self._used: dict[str, Resources] = {}

    @property
    def hosts(self) -> list[str]:
        return sorted(self._hosts)

    def set_host(self, node: Node) -> None:
        self._hosts[node.name] = node

    def remove_host(self, name: str) -> None:
        self._hosts.pop(name, None)

    def set_pod(self, key: str, host: str, requests: Resources) -> None:
        """Count ``requests`` on ``host`` for the pod ``key`` (replacing what it held)."""
        self.remove_pod(key)
        if not host:
            return
        self._pods[key] = (host, requests)
        self._used[host] = self._used.get(host, EMPTY) + requests

    def remove_pod(self, key: str) -> None:
        held = self._pods.pop(key, None)
        if held is not None:
            host, requests = held
            self._used[host] = self._used.get(host, EMPTY) - requests

    def track(self, key: str, pod: HostPod) -> None:
        if pod.active and pod.node_name:
            self.set_pod(key, pod.node_name, pod.requests)
        else:
            self.remove_pod(key)

    def used(self, host: str) -> Resources:
        return self._used.get(host, EMPTY)

    def free(self, host: str) -> Resources:
        node = self._hosts.get(host)
        if node is None:
            return EMPTY
        capacity = Resources({CPU: node.allocatable.cpu, MEMORY: node.allocatable.memory})
        return capacity - self.used(host)

    def failure(self, host: str, demand: VMDemand) -> str | None:
        """Why ``demand`` cannot go on ``host``, or None when it fits."""
        node = self._hosts[host]
        if not node.ready or node.deleting:
            return NOT_READY
        if node.unschedulable:
            return UNSCHEDULABLE
        reason = selector_mismatch(demand.constraints, node.labels, node.name)
        reason = reason or taint_mismatch(demand.constraints, node.taints)
        if reason:
            return reason
        alloc = Resources({CPU: node.allocatable.cpu, MEMORY: node.allocatable.memory})
        return insufficient(demand.requests, self.used(host), alloc)

    def choose(self, demand: VMDemand) -> Placement:
        """The first host with room, preferred hosts first; nothing is reserved."""
        reasons: list[str] = []
        for host in self._order(demand.preferred_hosts):
            reason = self.failure(host, demand)
            if reason is None:
                return Placement(host)
            reasons.append(reason)
        return Placement(None, unschedulable_message(len(self._hosts), reasons))

    def _order(self, preferred: Iterable[str]) -> list[str]:
        first = [host for host in preferred if host in self._hosts]
        return first + [host for host in sorted(self._hosts) if host not in first]
