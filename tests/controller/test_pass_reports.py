"""What one pass reports: VM states per pool, pool counts, statuses and pending pods."""

from __future__ import annotations

from autoscaler.api.models import load_tenant_cluster
from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.controller.snapshot import build_snapshot, pools_of, with_node_names
from autoscaler.controller.status_report import (
    nodepool_status,
    pool_counts,
    tenant_status_fields,
)
from autoscaler.controller.telemetry import NO_POOL, node_states, pending_by_pool, pools_at_max
from autoscaler.core.actions import Explanation, Verdict
from autoscaler.core.config import disrupting_taint
from autoscaler.core.model import POOL_LABEL, Node, VirtualMachine, VMPhase

GI = 1024**3
SHAPE = Shape(2000, 4 * GI)
TENANT = load_tenant_cluster(
    {
        "metadata": {"name": "team-a", "namespace": "kvpool-system", "generation": 3},
        "spec": {
            "kubeconfigSecretRef": {"name": "kc"},
            "vmNamespace": "team-a-vms",
            "images": [{"name": "k8s", "containerDisk": "registry.example/k8s:1"}],
            "shapes": {
                "cpu": {"min": 1, "max": 8},
                "memory": {"min": "1Gi", "max": "32Gi"},
                "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
            },
            "bootstrap": {"kind": "kubeadm", "apiServerEndpoint": "https://team-a.example:6443"},
        },
    }
)


def nodepool(name: str, **annotations: str) -> dict[str, object]:
    base = {
        "kvpool.io/image": "k8s",
        "kvpool.io/cpu": "1-8",
        "kvpool.io/memory": "1Gi-32Gi",
        "kvpool.io/max-nodes": "5",
    }
    base.update(annotations)
    return {"metadata": {"name": name, "annotations": base}, "spec": {}}


def vm(name: str, phase: VMPhase = VMPhase.RUNNING, pool: str = "general") -> VirtualMachine:
    return VirtualMachine(name, pool, SHAPE, "h", created=1.0, phase=phase)


def node(name: str, ready: bool = True, draining: bool = False) -> Node:
    return Node(
        name,
        Resources.of(cpu=2000, memory=4 * GI),
        labels={POOL_LABEL: "general"},
        ready=ready,
        unschedulable=draining,
        taints=(disrupting_taint("Empty"),) if draining else (),
    )


def world() -> object:
    pools = pools_of(
        [nodepool("general"), nodepool("broken", **{"kvpool.io/max-nodes": "x"})], TENANT
    )
    return build_snapshot(
        TENANT,
        pods=[],
        nodes=[node("a"), node("b", ready=False), node("c", draining=True)],
        pools=pools,
        vms=[vm("a"), vm("b"), vm("c"), vm("d", VMPhase.PENDING), vm("e", VMPhase.DELETING)],
        hosts=[],
    )


def test_vms_are_counted_by_pool_and_state() -> None:
    states = node_states(world(), draining={"c"})  # type: ignore[arg-type]
    assert states == {
        ("general", "ready"): 1,
        ("general", "notready"): 1,
        ("general", "draining"): 1,
        ("general", "launching"): 1,
        ("general", "deleting"): 1,
    }


def test_pool_counts_and_statuses() -> None:
    snapshot = world()
    counts = pool_counts(snapshot, draining=set())  # type: ignore[arg-type]
    general = counts["general"]
    # b registered but is not Ready yet: a node, and still launching.
    assert (general.nodes, general.launching, general.draining) == (3, 2, 1)
    broken = next(p for p in snapshot.pools if p.name == "broken")  # type: ignore[attr-defined]
    condition, fields = nodepool_status(broken, counts["broken"], None, 100.0, None)
    assert (condition.status, condition.reason) == (False, "InvalidAnnotations")
    assert "max-nodes" in condition.message
    assert fields["lastScaleUp"] == "1970-01-01T00:01:40Z" and "lastScaleDown" not in fields
    status = tenant_status_fields(snapshot, counts, {"general": "at max"}, 3)  # type: ignore[arg-type]
    assert status["usage"] == {"vms": 4, "cpu": "8", "memory": "16Gi"}
    assert status["observedGeneration"] == 3
    summaries = {p["name"]: p for p in status["pools"]}
    assert summaries["general"]["message"] == "at max" and summaries["broken"]["enabled"] is False


def test_pending_pods_by_pool_and_pools_at_max() -> None:
    explanations = [
        Explanation(Verdict.NEW_VM, 4, ("a/p",), "general"),
        Explanation(Verdict.POOL_AT_MAX, 2, ("a/q",), "gpu"),
        Explanation(Verdict.NO_POOL_MATCHES, 1, ("a/r",)),
    ]
    assert pending_by_pool(explanations) == {"general": 4, "gpu": 2, NO_POOL: 1}
    assert pools_at_max(explanations) == {"gpu"}


def test_vms_are_matched_to_nodes_by_name() -> None:
    matched = with_node_names([vm("a"), vm("z")], [node("a")])
    assert [v.node_name for v in matched] == ["a", None]
