"""Restarts, unreachable tenants and invalid NodePools."""

from __future__ import annotations

import base64
from typing import Any

import yaml
from controller_world import (
    NAMESPACE,
    add_pending,
    cluster_agents,
    delete,
    eventually,
    get,
    items,
    nodepool,
    patch,
    put,
    vms,
    world,
)
from prometheus_client import generate_latest

from autoscaler.observability.metrics import Metrics

POOLS = "nodepools.autoscaling.kvpool.io"
TENANTS = "tenantclusters.autoscaling.kvpool.io"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == kind:
            return dict(item)
    return None


def user_data_secrets(server: Any, namespace: str) -> set[str]:
    return {
        s["metadata"]["name"].removesuffix("-userdata")
        for s in items(server, "secrets", namespace)
        if s["metadata"]["name"].endswith("-userdata")
    }


async def test_a_restart_between_secret_and_vm_reuses_the_names_without_duplicates() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        for index in range(4):
            add_pending(tenant, f"web-{index}", cpu="1", memory="1Gi")
        fault = w.management.faults.fail(
            status=500, verb="create", resource="virtualmachines", times=None
        )
        first = await w.manager()
        await eventually(
            lambda: user_data_secrets(w.management, "team-a-vms"), message="no Secret written"
        )
        await first.stop()  # the process dies with Secrets and no VMs
        orphans = user_data_secrets(w.management, "team-a-vms")
        assert not vms(w.management, "team-a-vms")
        w.management.faults.remove(fault)

        second = await w.manager()
        await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM after restart")
        created = {vm["metadata"]["name"] for vm in vms(w.management, "team-a-vms")}
        assert created == orphans  # the same names: the Secrets were taken over, not leaked
        assert user_data_secrets(w.management, "team-a-vms") == created

        loop = second.loops["team-a"].loop
        seen = loop.decisions
        await eventually(lambda: loop.decisions >= seen + 3, message="no decisions")
        assert {vm["metadata"]["name"] for vm in vms(w.management, "team-a-vms")} == created


async def test_an_unreachable_tenant_is_never_scaled_down_and_others_carry_on() -> None:
    async with world() as w:
        a = await w.add_tenant("team-a")
        b = await w.add_tenant("team-b")
        for server in (a, b):
            put(server, POOLS, nodepool("general"))
        add_pending(a, "web-0", cpu="1", memory="1Gi")
        metrics = Metrics()
        manager = await w.manager(metrics=metrics)
        async with cluster_agents(w, ["team-a", "team-b"]):
            await eventually(lambda: items(a, "pods")[0]["spec"].get("nodeName"), message="a")
            await a.stop()
            delete(a, "pods", "web-0", "default")  # would make the node empty, were it seen
            loop = manager.loops["team-a"].loop
            await eventually(lambda: loop.connected is False, message="still connected")
            tc = get(w.management, TENANTS, "team-a", NAMESPACE)
            await eventually(
                lambda: (
                    (c := condition(get(w.management, TENANTS, "team-a", NAMESPACE), "Connected"))
                    and c["status"] == "False"
                ),
                message="no Connected=False condition",
            )
            tc = get(w.management, TENANTS, "team-a", NAMESPACE)
            assert condition(tc, "Connected")["message"]  # type: ignore[index]
            assert (
                'kvpool_tenant_connected{tenant="team-a"} 0.0'
                in generate_latest(metrics.registry).decode()
            )

            add_pending(b, "web-0", cpu="1", memory="1Gi")
            await eventually(lambda: items(b, "pods")[0]["spec"].get("nodeName"), message="b")
            assert len(vms(w.management, "team-a-vms")) == 1

            await a.start()
            await eventually(lambda: loop.connected is True, message="did not reconnect")
            await eventually(
                lambda: not vms(w.management, "team-a-vms"), message="not scaled down after"
            )


async def test_an_invalid_annotation_disables_only_its_pool_with_an_event_and_a_condition() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("broken", labels={"pool": "broken"}, max_nodes="lots"))
        put(tenant, POOLS, nodepool("general"))
        add_pending(tenant, "web-0", cpu="1", memory="1Gi", node_selector={"pool": "general"})
        add_pending(tenant, "db-0", cpu="1", memory="1Gi", node_selector={"pool": "broken"})
        await w.manager()
        await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM for general")

        def broken_condition() -> dict[str, Any] | None:
            return condition(get(tenant, POOLS, "broken"), "Ready")

        await eventually(broken_condition, message="no condition on the broken pool")
        state = broken_condition()
        assert state is not None and state["status"] == "False"
        assert state["reason"] == "InvalidAnnotations" and "max-nodes" in state["message"]
        events = [
            e
            for e in items(tenant, "events", "default")
            if e["involvedObject"]["name"] == "broken" and e["reason"] == "InvalidAnnotations"
        ]
        assert events and events[0]["type"] == "Warning"
        good = await eventually(lambda: condition(get(tenant, POOLS, "general"), "Ready"))
        assert good["status"] == "True"
        launched = vms(w.management, "team-a-vms")
        assert {vm["metadata"]["labels"]["kvpool.io/pool"] for vm in launched} == {"general"}


async def test_an_invalid_tenant_cluster_gets_a_condition_and_an_event_and_others_carry_on() -> (
    None
):
    async with world() as w:
        good = await w.add_tenant("team-a")
        put(good, POOLS, nodepool("general"))
        bad_shapes = {
            "cpu": {"min": 8, "max": 2},
            "memory": {"min": "2Gi", "max": "64Gi"},
            "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
        }
        await w.add_tenant("team-b", shapes=bad_shapes)
        add_pending(good, "web-0", cpu="1", memory="1Gi")
        manager = await w.manager()
        await eventually(lambda: vms(w.management, "team-a-vms"), message="good tenant stalled")

        def valid() -> dict[str, Any] | None:
            return condition(get(w.management, TENANTS, "team-b", NAMESPACE), "Valid")

        state = await eventually(valid, message="no Valid condition on the invalid tenant")
        assert state["status"] == "False" and state["reason"] == "InvalidSpec"
        assert "cpu min 8 is greater than max 2" in state["message"]
        events = [
            e for e in items(w.management, "events", NAMESPACE) if e["reason"] == "InvalidSpec"
        ]
        assert events and events[0]["involvedObject"]["name"] == "team-b"
        assert "team-b" not in manager.loops


async def test_a_changed_kubeconfig_secret_rebuilds_the_client_and_restarts_the_loop() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        manager = await w.manager()
        first = await eventually(lambda: manager.loops.get("team-a"), message="no loop")
        await eventually(lambda: first.loop.connected, message="not connected")
        kubeconfig = tenant.kubeconfig(name="renamed")
        text = base64.b64encode(yaml.safe_dump(kubeconfig).encode()).decode()
        patch(w.management, "secrets", "team-a-kubeconfig", {"data": {"value": text}}, NAMESPACE)
        second = await eventually(
            lambda: (r := manager.loops.get("team-a")) is not None and r is not first and r,
            message="loop not restarted",
        )
        await eventually(lambda: second.loop.connected, message="new loop not connected")
