"""Host capacity shared between tenants, and VMs that never become nodes."""

from __future__ import annotations

from typing import Any

from controller_world import (
    NAMESPACE,
    add_pending,
    cluster_agents,
    eventually,
    fast_loop_settings,
    items,
    nodepool,
    put,
    vms,
    world,
)
from prometheus_client import generate_latest

from autoscaler.api.resources import EMPTY, Resources
from autoscaler.core.batching import BatchWindows
from autoscaler.core.config import CoreConfig
from autoscaler.core.overhead import host_footprint
from autoscaler.observability.metrics import Metrics
from autoscaler.providers.kubevirt_status import shape_of

POOLS = "nodepools.autoscaling.kvpool.io"
GI = 1024**3


def planned_host(vm: dict[str, Any]) -> str:
    preferred = vm["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    return str(preferred[0]["preference"]["matchExpressions"][0]["values"][0])


def footprint(machines: list[dict[str, Any]]) -> Resources:
    total = EMPTY
    for vm in machines:
        total = total + host_footprint(shape_of(vm))
    return total


async def test_two_tenants_bursting_share_a_small_host_by_weight_without_overcommit() -> None:
    async with world(hosts=1, cpu=16, memory_gi=64) as w:
        a = await w.add_tenant("team-a", weight=3)
        b = await w.add_tenant("team-b", weight=1)
        for server in (a, b):
            put(server, POOLS, nodepool("general", cpu="1-4", memory="2Gi-16Gi", max_nodes="20"))
        # Scans further apart than the batch windows: the burst is decided as one batch.
        windows = BatchWindows(idle_seconds=0.5, max_seconds=1.0, scan_interval_seconds=1.5)
        manager = await w.manager(fast_loop_settings(windows=windows))
        loops = await eventually(
            lambda: (
                len(manager.loops) == 2
                and all(r.loop.decisions for r in manager.loops.values())
                and [r.loop for r in manager.loops.values()]
            ),
            message="loops not running",
        )
        for index in range(12):
            for server in (a, b):
                add_pending(server, f"web-{index}", cpu="1", memory="1Gi")
        await eventually(
            lambda: vms(w.management, "team-a-vms") and vms(w.management, "team-b-vms"),
            message="a tenant got nothing",
        )
        seen = [loop.decisions for loop in loops]
        await eventually(
            lambda: all(loop.decisions >= n + 2 for loop, n in zip(loops, seen, strict=True)),
            message="loops stopped deciding",
        )
        a_vms, b_vms = vms(w.management, "team-a-vms"), vms(w.management, "team-b-vms")
        assert {planned_host(vm) for vm in a_vms + b_vms} == {"host-0"}
        used = footprint(a_vms + b_vms)
        assert used.cpu <= 16_000 and used.memory <= 64 * GI, used
        assert footprint(a_vms).cpu > footprint(b_vms).cpu


async def test_a_vm_that_never_registers_is_replaced_with_an_event_and_the_pool_backs_off() -> None:
    core = CoreConfig(registration_deadline=0.5, backoff_base=0.5, backoff_max=1.0)
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        metrics = Metrics()
        await w.manager(fast_loop_settings(core=core), metrics=metrics)
        first = (await eventually(lambda: vms(w.management, "team-a-vms")))[0]["metadata"]["name"]
        async with cluster_agents(w, ["team-a"], never_registers=lambda n: n == first):
            await eventually(
                lambda: items(tenant, "pods")[0]["spec"].get("nodeName"), message="not replaced"
            )
        names = {vm["metadata"]["name"] for vm in vms(w.management, "team-a-vms")}
        assert first not in names and len(names) == 1
        events = [
            e
            for e in items(w.management, "events", NAMESPACE)
            if e["reason"] == "VMReplaced" and first in e["message"]
        ]
        assert events and "Registering" in events[0]["message"]
        text = generate_latest(metrics.registry).decode()
        assert 'reason="LaunchTimeout",result="success"' in text
        assert 'kvpool_boot_phase_duration_seconds_count{phase="Registering"}' in text
