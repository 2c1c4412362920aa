"""A consolidation replacement launched in one leader's term is finished by the next one."""

from __future__ import annotations

import dataclasses

from controller_world import (
    FAST_CORE,
    add_pending,
    cluster_agents,
    eventually,
    exists,
    fast_loop_settings,
    items,
    nodepool,
    put,
    vms,
    world,
)

from autoscaler.api.policy import Shape
from autoscaler.controller.actuator import PlanContext
from autoscaler.controller.launches import NamedLaunch
from autoscaler.controller.tenant import TenantLoop
from autoscaler.core.actions import LaunchVM, Reason

POOLS = "nodepools.autoscaling.kvpool.io"
VM_NAMESPACE = "team-a-vms"
GI = 2**30


def bound_nodes(tenant: object) -> set[str]:
    return {
        p["spec"]["nodeName"]
        for p in items(tenant, "pods")  # type: ignore[arg-type]
        if p["spec"].get("nodeName")
    }


async def test_a_new_leader_drains_the_nodes_a_replacement_of_the_previous_term_is_for() -> None:
    leading = [True]
    # No consolidation of its own: only the record on the VM can link the replacement.
    core = dataclasses.replace(FAST_CORE, consolidation=False, growth_window=0.0)
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general", min_nodes="1", cpu="1-4", memory="2Gi-8Gi"))
        manager = await w.manager(fast_loop_settings(core), is_leader=lambda: leading[0])
        async with cluster_agents(w, ["team-a"]):
            for index in range(2):
                add_pending(tenant, f"web-{index}", cpu="700m", memory="512Mi")
                await eventually(
                    lambda i=index: len(bound_nodes(tenant)) == i + 1,
                    message="pod not bound on a node of its own",
                )
            old = bound_nodes(tenant)
            loop: TenantLoop = manager.loops["team-a"].loop

            # The term that launched the replacement ends before it is up.
            leading[0] = False
            await eventually(lambda: not loop.leading, message="did not step down")
            (pool,) = loop.pools()
            launch = LaunchVM(
                "general",
                Shape(2000, 4 * GI),
                "k8s-1.31",
                pool.image_hash,
                Reason.UNDERUTILIZED,
                detail="replaces two nodes with one cheaper VM",
                replaces=tuple(sorted(old)),
            )
            context = PlanContext(tenant=loop.tenant, pools={pool.name: pool})
            replacement = "team-a-general-replacement"
            [outcome] = await loop.actuator.execute([NamedLaunch(launch, replacement)], context)
            assert outcome.ok, outcome.error
            leading[0] = True

            await eventually(
                lambda: not any(exists(tenant, "nodes", name) for name in old),
                within=30,
                message="the replaced nodes were not drained",
            )
            assert exists(tenant, "nodes", replacement)
            assert [v["metadata"]["name"] for v in vms(w.management, VM_NAMESPACE)] == [replacement]
