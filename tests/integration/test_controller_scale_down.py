"""Scale down: drains through evictions, disruption budgets hold, VMs, Nodes and tokens go."""

from __future__ import annotations

from controller_world import (
    add_pending,
    cluster_agents,
    delete,
    eventually,
    exists,
    items,
    nodepool,
    patch,
    put,
    vms,
    world,
)

POOLS = "nodepools.autoscaling.kvpool.io"
PDBS = "poddisruptionbudgets.policy"


def tokens(tenant: object, vm: str) -> list[dict[str, object]]:
    return items(tenant, "secrets", "kube-system", labels=f"kvpool.io/vm={vm}")  # type: ignore[arg-type]


async def test_a_budget_holds_the_node_until_it_allows_then_vm_node_and_token_go() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general", cpu="1-2", max_nodes="3"))
        put(
            tenant,
            PDBS,
            {
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}},
            },
        )
        for index in range(2):
            add_pending(tenant, f"web-{index}", cpu="1500m", memory="1Gi")
        manager = await w.manager()
        async with cluster_agents(w, ["team-a"]):
            await eventually(
                lambda: all(p["spec"].get("nodeName") for p in items(tenant, "pods")),
                message="pods not bound",
            )
            assert len(vms(w.management, "team-a-vms")) == 2
            names = {vm["metadata"]["name"] for vm in vms(w.management, "team-a-vms")}
            assert all(tokens(tenant, name) for name in names)

            patch(
                tenant,
                POOLS,
                "general",
                {"metadata": {"annotations": {"kvpool.io/max-nodes": "1"}}},
            )
            loop = manager.loops["team-a"].loop
            seen = loop.decisions
            await eventually(lambda: loop.decisions >= seen + 8, message="no decisions")
            assert len(vms(w.management, "team-a-vms")) == 2
            assert not any(n["spec"].get("unschedulable") for n in items(tenant, "nodes"))

            patch(tenant, PDBS, "web", {"spec": {"maxUnavailable": 1}}, "default")
            await eventually(
                lambda: len(vms(w.management, "team-a-vms")) == 1, message="no VM removed"
            )
            left = {vm["metadata"]["name"] for vm in vms(w.management, "team-a-vms")}
            (gone,) = names - left
            await eventually(lambda: not exists(tenant, "nodes", gone), message="node kept")
            await eventually(lambda: not tokens(tenant, gone), message="token kept")
            assert len(items(tenant, "pods")) == 1  # one pod was evicted

            for p in items(tenant, "pods"):
                delete(tenant, "pods", p["metadata"]["name"], "default")
            await eventually(
                lambda: not vms(w.management, "team-a-vms"), message="empty node not removed"
            )
            await eventually(lambda: not items(tenant, "nodes"), message="nodes left")
            await eventually(
                lambda: not items(tenant, "secrets", "kube-system"), message="tokens left"
            )
