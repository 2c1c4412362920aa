"""What must hold whatever the faults, judged from the API servers' own state and requests,
never from the controller's logs.

A :class:`Monitor` hooks into every server: when a VM (management) or a Node (tenant) delete
arrives from the controller it records the pods still on that Node at that moment, and whether
losing them takes a PodDisruptionBudget below its desired healthy count; it remembers every VM
created and every Node that ever had a workload pod bound. :func:`problems` says why a world has
not converged (or, at the end, what was left behind).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller_world import items
from fault_world import FaultWorld, Tenant

from autoscaler.api.naming import (
    ROOT_DISK_SUFFIX,
    TENANT_LABEL,
    USER_DATA_SUFFIX,
)
from testbed.apiserver import AuditEntry, FakeApiServer, RequestInfo
from testbed.apiserver.disruption import pod_is_healthy
from testbed.apiserver.selectors import SelectorError, from_label_selector

VMS = "virtualmachines.kubevirt.io"
DATA_VOLUMES = "datavolumes.cdi.kubevirt.io"
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# Writes that happen on a timer whatever the controller decides; not counted as kill points.
ROUTINE = frozenset({"leases", "events"})


def _is_daemonset_pod(pod: Mapping[str, Any]) -> bool:
    owners = pod.get("metadata", {}).get("ownerReferences") or []
    return any(owner.get("kind") == "DaemonSet" for owner in owners)


def _is_active(pod: Mapping[str, Any]) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def workload_pods_on(server: FakeApiServer, node: str) -> list[dict[str, Any]]:
    """Non-DaemonSet, non-terminal pods bound to ``node``."""
    return [
        pod
        for pod in items(server, "pods")
        if pod.get("spec", {}).get("nodeName") == node
        and _is_active(pod)
        and not _is_daemonset_pod(pod)
    ]


def budget_violations(server: FakeApiServer, lost: list[dict[str, Any]]) -> list[str]:
    """The PodDisruptionBudgets that losing the healthy pods in ``lost`` takes below their
    desired healthy count."""
    found = []
    for budget in items(server, "poddisruptionbudgets.policy"):
        meta = budget["metadata"]
        try:
            selector = from_label_selector(budget.get("spec", {}).get("selector") or {})
        except SelectorError:
            continue
        covered = [
            pod
            for pod in lost
            if pod["metadata"].get("namespace") == meta.get("namespace")
            and selector.matches(pod["metadata"].get("labels") or {})
            and pod_is_healthy(pod)
        ]
        if not covered:
            continue
        status = budget.get("status") or {}
        healthy = int(status.get("currentHealthy", 0))
        desired = int(status.get("desiredHealthy", 0))
        if healthy - len(covered) < desired:
            found.append(
                f"{meta['namespace']}/{meta['name']}: {healthy} healthy, {len(covered)} lost, "
                f"{desired} desired"
            )
    return found


@dataclass
class Deletion:
    what: str  # "VM team-a-vms/x" or "Node x"
    pods: list[str]
    budgets: list[str]


@dataclass
class Monitor:
    world: FaultWorld
    guarded: list[Deletion] = field(default_factory=list)  # deletions with pods on the node
    judged: set[str] = field(default_factory=set)  # Nodes whose deletion was looked at
    vms_created: dict[str, str] = field(default_factory=dict)  # VM name -> tenant
    nodes_used: set[str] = field(default_factory=set)  # Nodes that had a workload pod bound
    controller_writes: int = 0
    # Called with the write's number and what it is, before it is served / once answered.
    before_write: list[Callable[[int, str], None]] = field(default_factory=list)
    after_write: list[Callable[[int, str], None]] = field(default_factory=list)

    @property
    def pdb_violations(self) -> int:
        return sum(1 for deletion in self.guarded if deletion.budgets)

    def attach(self) -> None:
        world = self.world
        world.management.request_hooks.append(self._management_request)
        world.management.response_hooks.append(self._management_response)
        for tenant in world.tenants.values():
            tenant.server.request_hooks.append(self._tenant_request(tenant))
            tenant.server.response_hooks.append(self._tenant_response(tenant))

    # Hooks --------------------------------------------------------------------------------

    def _count_write(self, verb: str, resource: str, port: int, controller_port: int) -> None:
        if port != controller_port or verb not in WRITES:
            return
        if resource.partition("/")[0] in ROUTINE:
            return
        self.controller_writes += 1
        for hook in list(self.before_write):
            hook(self.controller_writes, f"{verb} {resource}")

    def _answered(self, entry: AuditEntry, controller_port: int) -> None:
        if entry.port != controller_port or entry.verb not in WRITES:
            return
        if entry.resource.partition("/")[0] in ROUTINE:
            return
        for hook in list(self.after_write):
            hook(self.controller_writes, f"{entry.verb} {entry.resource}")

    def _management_request(self, info: RequestInfo) -> None:
        world = self.world
        deleting = info.port == world.management_port and info.verb == "delete"
        if deleting and info.resource == "virtualmachines":
            tenant = world.tenant_of_vm_namespace(info.namespace)
            if tenant is not None:
                self._judge(tenant, f"VM {info.namespace}/{info.name}", info.name)
        self._count_write(info.verb, info.resource, info.port, world.management_port)

    def _management_response(self, entry: AuditEntry) -> None:
        self._answered(entry, self.world.management_port)
        if entry.verb == "create" and entry.resource == "virtualmachines" and entry.code == 201:
            for vm in items(self.world.management, VMS):
                name = vm["metadata"]["name"]
                tenant = vm["metadata"].get("labels", {}).get(TENANT_LABEL, "")
                self.vms_created.setdefault(name, tenant)

    def _tenant_request(self, tenant: Tenant) -> Callable[[RequestInfo], None]:
        def hook(info: RequestInfo) -> None:
            deleting = info.port == tenant.controller_port and info.verb == "delete"
            if deleting and info.resource == "nodes":
                self._judge(tenant, f"Node {info.name}", info.name)
            self._count_write(info.verb, info.resource, info.port, tenant.controller_port)

        return hook

    def _tenant_response(self, tenant: Tenant) -> Callable[[AuditEntry], None]:
        def hook(entry: AuditEntry) -> None:
            self._answered(entry, tenant.controller_port)
            if entry.resource == "pods/binding" and entry.code == 201:
                parts = entry.path.rstrip("/").split("/")
                namespace, name = parts[-4], parts[-2]
                for pod in items(tenant.server, "pods", namespace):
                    if pod["metadata"]["name"] == name and pod["spec"].get("nodeName"):
                        self.nodes_used.add(pod["spec"]["nodeName"])

        return hook

    def _judge(self, tenant: Tenant, what: str, node: str) -> None:
        # One judgement per Node: the VM's deletion, or the Node's when it comes first.
        if node in self.judged:
            return
        self.judged.add(node)
        pods = workload_pods_on(tenant.server, node)
        if pods:
            names = [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods]
            self.guarded.append(Deletion(what, names, budget_violations(tenant.server, pods)))

    # Figures -------------------------------------------------------------------------------

    def idle_launches(self) -> list[str]:
        """VMs created in this run whose Node never had a workload pod: a launch nobody needed,
        as a duplicate of another launch is."""
        return sorted(name for name in self.vms_created if name not in self.nodes_used)


def leftovers(world: FaultWorld, tenant: Tenant) -> list[str]:
    """Objects without a reason to exist: Secrets and DataVolumes without their VM, Nodes of the
    pool without a VM, and VMs whose Node runs no workload pod."""
    management, namespace = world.management, tenant.vm_namespace
    vms = {vm["metadata"]["name"]: vm for vm in items(management, VMS, namespace)}
    found = []
    for secret in items(management, "secrets", namespace):
        name = secret["metadata"]["name"]
        if name.endswith(USER_DATA_SUFFIX) and name.removesuffix(USER_DATA_SUFFIX) not in vms:
            found.append(f"orphaned Secret {name}")
    for volume in items(management, DATA_VOLUMES, namespace):
        name = volume["metadata"]["name"]
        if name.removesuffix(ROOT_DISK_SUFFIX) not in vms:
            found.append(f"orphaned DataVolume {name}")
    for node in items(tenant.server, "nodes"):
        name = node["metadata"]["name"]
        if node["metadata"].get("labels", {}).get("pool") and name not in vms:
            found.append(f"Node {name} without a VM")
    for name, vm in vms.items():
        if not vm["metadata"].get("deletionTimestamp") and not workload_pods_on(
            tenant.server, name
        ):
            found.append(f"empty VM {name}")
    return found


def problems(world: FaultWorld, tenant: Tenant) -> list[str]:
    """Why ``tenant`` has not converged: empty when every workload pod runs on a Ready,
    schedulable node of a VM, nothing is on its way out, nothing is left over and the tenant
    is Connected."""
    found: list[str] = []
    pods = [p for p in items(tenant.server, "pods", "default") if _is_active(p)]
    for workload, replicas in tenant.desired().items():
        mine = [p for p in pods if p["metadata"].get("labels", {}).get("app") == workload]
        running = [p for p in mine if (p.get("status") or {}).get("phase") == "Running"]
        if len(mine) != replicas or len(running) != replicas:
            found.append(f"{workload}: {len(running)}/{replicas} running ({len(mine)} pods)")
    nodes = {n["metadata"]["name"]: n for n in items(tenant.server, "nodes")}
    for vm in items(world.management, VMS, tenant.vm_namespace):
        name = vm["metadata"]["name"]
        node = nodes.get(name)
        if vm["metadata"].get("deletionTimestamp"):
            found.append(f"VM {name} is being deleted")
        elif node is None:
            found.append(f"VM {name} has no Node")
        elif node.get("spec", {}).get("unschedulable"):
            found.append(f"Node {name} is cordoned")
        elif not _ready(node):
            found.append(f"Node {name} is not Ready")
    found.extend(leftovers(world, tenant))
    if world.tenant_connected(tenant.name) is not True:
        found.append("not Connected")
    return found


def _ready(node: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )
