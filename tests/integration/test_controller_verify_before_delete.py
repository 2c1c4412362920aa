"""No destructive action on doubt: a VM is deleted only after a live read of its Node's pods,
a cordon that fails is retried, and a disruption survives a change of leader."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from controller_world import (
    FAST_CORE,
    FAST_INFORMER,
    FAST_MANAGER,
    add_pending,
    cluster_agents,
    delete,
    eventually,
    exists,
    fast_loop_settings,
    get,
    items,
    nodepool,
    patch,
    put,
    vms,
    world,
)

from autoscaler.api.disruption import DISRUPTION_ANNOTATION
from autoscaler.controller.tenant import TenantLoop
from autoscaler.core.config import DISRUPTING_TAINT_KEY

POOLS = "nodepools.autoscaling.kvpool.io"
PDBS = "poddisruptionbudgets.policy"
VM_NAMESPACE = "team-a-vms"


def guarded_pod(name: str, node: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app": "web"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-1234",
                    "uid": "rs-1",
                    "controller": True,
                }
            ],
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "main", "image": "app", "resources": {"requests": {}}}],
        },
    }


def run_on(server: Any, name: str, node: str) -> None:
    put(server, "pods", guarded_pod(name, node))
    status = {
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    patch(server, "pods", name, status, "default", subresource="status")


def min_available(count: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": count, "selector": {"matchLabels": {"app": "web"}}},
    }


def events(server: Any, reason: str) -> list[dict[str, Any]]:
    return [e for e in items(server, "events") if e.get("reason") == reason]


def only_node(server: Any) -> str:
    (node,) = [n["metadata"]["name"] for n in items(server, "nodes")]
    return str(node)


def loop_of(manager: Any) -> TenantLoop:
    loop: TenantLoop = manager.loops["team-a"].loop
    return loop


async def test_a_vm_is_not_deleted_while_guarded_pods_the_stale_cache_misses_run_on_it() -> None:
    # Pod watches end every second and then hang: the controller's pod cache stops while the
    # node, NodePool and VM views stay current.
    informer = dataclasses.replace(FAST_INFORMER, watch_timeout_seconds=1, inactivity_timeout=60)
    settings = fast_loop_settings(informer=informer)
    manager_settings = dataclasses.replace(FAST_MANAGER, informer=informer)
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general", min_nodes="1"))
        manager = await w.manager(settings, manager_settings)
        async with cluster_agents(w, ["team-a"]):
            await eventually(lambda: items(tenant, "nodes"), message="no node for min-nodes")
            node = only_node(tenant)
            (vm,) = [v["metadata"]["name"] for v in vms(w.management, VM_NAMESPACE)]

            tenant.faults.delay(3600, verb="watch", resource="pods")
            await asyncio.sleep(2.5)  # the open pod watch ends; the next one hangs
            put(tenant, PDBS, min_available(2))
            run_on(tenant, "web-a", node)
            run_on(tenant, "web-b", node)
            loop = loop_of(manager)
            assert not [p for p in loop.sources.pods.snapshot() if p.node_name == node]

            patch(
                tenant,
                POOLS,
                "general",
                {"metadata": {"annotations": {"kvpool.io/min-nodes": "0"}}},
            )

            def vm_exists() -> bool:
                return exists(w.management, "virtualmachines.kubevirt.io", vm, VM_NAMESPACE)

            await eventually(
                lambda: events(tenant, "DisruptionBlocked") or not vm_exists(),
                within=15,
                message="the scale-down never came to the deletion",
            )
            assert vm_exists(), "the VM was deleted while guarded pods ran on its node"
            seen = loop.decisions
            await eventually(lambda: loop.decisions >= seen + 10, message="no decisions")
            assert vm_exists() and exists(tenant, "nodes", node)
            assert {p["metadata"]["name"] for p in items(tenant, "pods")} == {"web-a", "web-b"}
            blocked = events(tenant, "DisruptionBlocked")
            kinds = {e["involvedObject"]["kind"] for e in blocked}
            assert kinds == {"Node", "NodePool"}
            assert all("default/web-a" in e["message"] for e in blocked)

            # Once the pods are gone for real, the same removal completes.
            tenant.faults.clear()
            delete(tenant, "pods", "web-a", "default")
            delete(tenant, "pods", "web-b", "default")
            await eventually(
                lambda: not vms(w.management, VM_NAMESPACE), within=20, message="VM kept"
            )


async def test_a_cordon_that_fails_once_is_retried_and_the_scale_down_completes() -> None:
    # A scale-down given up would keep the node off the list for the whole drain timeout.
    core = dataclasses.replace(FAST_CORE, drain_timeout=120.0)
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        add_pending(tenant, "seed", cpu="500m", memory="512Mi")
        await w.manager(fast_loop_settings(core))
        async with cluster_agents(w, ["team-a"]):
            await eventually(
                lambda: all(p["spec"].get("nodeName") for p in items(tenant, "pods")),
                message="seed not bound",
            )
            node = only_node(tenant)
            fault = tenant.faults.fail(
                status=500, times=1, verb="patch", path=r"^/api/v1/nodes/[^/]+$"
            )
            delete(tenant, "pods", "seed", "default")
            await eventually(
                lambda: not vms(w.management, VM_NAMESPACE), within=20, message="VM kept"
            )
            await eventually(lambda: not exists(tenant, "nodes", node), message="node kept")
            assert fault.hits == 1


async def test_a_new_leader_resumes_a_disruption_in_progress() -> None:
    leading = [True]
    core = dataclasses.replace(FAST_CORE, drain_timeout=120.0)
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general", cpu="1-2", max_nodes="3"))
        for index in range(2):
            add_pending(tenant, f"web-{index}", cpu="1500m", memory="1Gi")
        manager = await w.manager(fast_loop_settings(core), is_leader=lambda: leading[0])
        async with cluster_agents(w, ["team-a"]):
            await eventually(
                lambda: all(p["spec"].get("nodeName") for p in items(tenant, "pods")),
                message="pods not bound",
            )
            # Evictions fail for now: the drain stays in progress.
            tenant.faults.fail(status=503, times=None, resource="pods/eviction")
            patch(
                tenant,
                POOLS,
                "general",
                {"metadata": {"annotations": {"kvpool.io/max-nodes": "1"}}},
            )

            def disrupted() -> list[dict[str, Any]]:
                return [n for n in items(tenant, "nodes") if n["spec"].get("unschedulable")]

            (node,) = await eventually(disrupted, message="no node cordoned")
            name = node["metadata"]["name"]
            record = json.loads(node["metadata"]["annotations"][DISRUPTION_ANNOTATION])
            assert record["method"] == "OverMax"
            taints = {t["key"]: t["value"] for t in node["spec"]["taints"]}
            assert taints[DISRUPTING_TAINT_KEY] == "OverMax"

            loop = loop_of(manager)
            await eventually(lambda: name in loop.actuator.draining(), message="no drain")
            leading[0] = False
            await eventually(lambda: not loop.leading, message="did not step down")
            await eventually(lambda: not loop.actuator.draining(), message="drain kept")
            leading[0] = True
            await eventually(lambda: name in loop.actuator.draining(), message="not resumed")
            node = get(tenant, "nodes", name)
            assert node["spec"].get("unschedulable") is True
            resumed = json.loads(node["metadata"]["annotations"][DISRUPTION_ANNOTATION])
            assert resumed == record  # the same disruption, not a new one

            tenant.faults.clear()
            await eventually(lambda: not exists(tenant, "nodes", name), message="node kept")
            assert len(vms(w.management, VM_NAMESPACE)) == 1
