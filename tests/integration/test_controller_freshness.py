"""Fresh or nothing: hung and silent watches, a blackholed tenant, and each tenant's own garbage
collection, against fake API servers with injected faults (real HTTP, short windows)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from controller_world import (
    FAST_MANAGER,
    NAMESPACE,
    World,
    add_pending,
    cluster_agents,
    delete,
    eventually,
    exists,
    fast_loop_settings,
    get,
    items,
    nodepool,
    put,
    vms,
    world,
)

from autoscaler.api.naming import MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL
from autoscaler.controller.manager import Manager
from autoscaler.controller.tenant import LoopSettings
from autoscaler.kube.informer import InformerSettings
from autoscaler.rawjson import RequestTimeouts

POOLS = "nodepools.autoscaling.kvpool.io"
TENANTS = "tenantclusters.autoscaling.kvpool.io"
WINDOW = 1.0  # the inactivity window, also every request's timeout here

QUICK_INFORMER = InformerSettings(
    watch_timeout_seconds=30,
    inactivity_timeout=WINDOW,
    list_timeout=WINDOW,
    connect_timeout=WINDOW,
    backoff_base=0.05,
    backoff_max=0.2,
)
QUICK_MANAGER = dataclasses.replace(
    FAST_MANAGER,
    informer=QUICK_INFORMER,
    timeouts=RequestTimeouts(connect=WINDOW, total=WINDOW),
)


def quick_loops() -> LoopSettings:
    return fast_loop_settings(informer=QUICK_INFORMER, probe_timeout=WINDOW / 2)


async def quick_manager(w: World) -> Manager:
    return await w.manager(loop_settings=quick_loops(), settings=QUICK_MANAGER)


def connected(w: World, tenant: str) -> dict[str, Any] | None:
    obj = get(w.management, TENANTS, tenant, NAMESPACE)
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item["type"] == "Connected":
            return dict(item)
    return None


def is_stale(w: World, tenant: str) -> dict[str, Any] | None:
    state = connected(w, tenant)
    return state if state and state["status"] == "False" and state["reason"] == "Stale" else None


def is_connected(w: World, tenant: str) -> bool:
    state = connected(w, tenant)
    return bool(state and state["status"] == "True")


def events(w: World, tenant: str, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in items(w.management, "events", NAMESPACE)
        if e["reason"] == reason and e["involvedObject"]["name"] == tenant
    ]


async def test_a_watch_that_never_starts_makes_the_tenant_stale_until_it_does() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        hung = tenant.faults.delay(3600.0, verb="watch", resource="pods")
        manager = await quick_manager(w)
        state = await eventually(lambda: is_stale(w, "team-a"), message="never Stale")
        assert "cache team-a/pods is stale" in state["message"]
        loop = manager.loops["team-a"].loop
        assert loop.connected is False
        decided, listed = loop.decisions, loop.sources.pods.lists
        # The re-lists see the new pod, but no watch delivers: still no decision.
        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        await eventually(lambda: loop.sources.pods.lists >= listed + 2, message="no re-list")
        assert loop.sources.pods.get("default/web-0") is not None
        assert is_stale(w, "team-a") and loop.decisions == decided
        assert not vms(w.management, "team-a-vms")
        await eventually(lambda: events(w, "team-a", "Stale"), message="no Stale event")

        tenant.faults.remove(hung)
        await eventually(lambda: vms(w.management, "team-a-vms"), message="did not recover")
        await eventually(lambda: is_connected(w, "team-a"), message="not Connected again")


async def test_a_silent_watch_stops_disruption_until_it_speaks_again() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, POOLS, nodepool("general"))
        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        manager = await quick_manager(w)
        async with cluster_agents(w, ["team-a"]):
            await eventually(lambda: items(tenant, "pods")[0]["spec"].get("nodeName"))
            silence = tenant.faults.silence_watches(resource="pods")
            await eventually(lambda: is_stale(w, "team-a"), message="never Stale")
            loop = manager.loops["team-a"].loop
            listed = loop.sources.pods.lists
            delete(tenant, "pods", "web-0", "default")  # the node is empty, were it seen
            await eventually(lambda: loop.sources.pods.lists >= listed + 2, message="no re-list")
            assert loop.sources.pods.get("default/web-0") is None  # a re-list saw it go...
            assert len(vms(w.management, "team-a-vms")) == 1  # ...yet nothing was disrupted
            assert is_stale(w, "team-a")

            tenant.faults.remove(silence)
            await eventually(lambda: is_connected(w, "team-a"), message="not Connected again")
            await eventually(
                lambda: not vms(w.management, "team-a-vms"),
                within=20.0,
                message="not scaled down after",
            )


async def test_a_blackholed_tenant_goes_stale_and_back_while_the_other_carries_on() -> None:
    async with world() as w:
        a = await w.add_tenant("team-a")
        b = await w.add_tenant("team-b")
        for server in (a, b):
            put(server, POOLS, nodepool("general"))
        add_pending(a, "web-0", cpu="1", memory="1Gi")
        manager = await quick_manager(w)
        async with cluster_agents(w, ["team-a", "team-b"]):
            await eventually(lambda: items(a, "pods")[0]["spec"].get("nodeName"), message="a")
            blackhole = a.faults.blackhole()
            delete(a, "pods", "web-0", "default")  # would make the node empty, were it seen
            state = await eventually(lambda: is_stale(w, "team-a"), message="never Stale")
            assert "nothing heard for" in state["message"] and "window 1s" in state["message"]
            # The Event follows the status condition.
            stale = await eventually(lambda: events(w, "team-a", "Stale"), message="no event")
            assert stale[0]["type"] == "Warning"
            assert "cache team-a/" in stale[0]["message"]

            add_pending(b, "web-0", cpu="1", memory="1Gi")
            await eventually(lambda: items(b, "pods")[0]["spec"].get("nodeName"), message="b")
            await eventually(lambda: is_connected(w, "team-b"), message="b not connected")
            assert len(vms(w.management, "team-a-vms")) == 1
            assert manager.loops["team-a"].loop.connected is False

            for fault in blackhole:
                a.faults.remove(fault)
            await eventually(lambda: is_connected(w, "team-a"), message="not Connected again")
            await eventually(lambda: events(w, "team-a", "Connected"), message="no event")
            await eventually(
                lambda: not vms(w.management, "team-a-vms"),
                within=20.0,
                message="not scaled down after",
            )


def orphaned_user_data(tenant: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{tenant}-lost-userdata",
            "namespace": f"{tenant}-vms",
            "labels": {TENANT_LABEL: tenant, MANAGED_BY_LABEL: MANAGED_BY},
        },
        "data": {"userdata": base64.b64encode(b"#cloud-config").decode()},
    }


async def test_orphans_of_every_tenant_are_collected_even_while_one_tenant_hangs() -> None:
    async with world() as w:
        a = await w.add_tenant("team-a")
        b = await w.add_tenant("team-b")
        for name, server in (("team-a", a), ("team-b", b)):
            put(server, POOLS, nodepool("general"))
            put(w.management, "secrets", orphaned_user_data(name))
        # team-b's bootstrap-token listing hangs (until its request times out, every pass); its
        # caches stay fresh, since Secrets are not watched.
        hung = b.faults.delay(3600.0, verb="list", resource="secrets")
        manager = await quick_manager(w)
        for name in ("team-a", "team-b"):
            await eventually(
                lambda name=name: (
                    not exists(w.management, "secrets", f"{name}-lost-userdata", f"{name}-vms")
                ),
                message=f"the orphan of {name} was kept",
            )
        garbage = manager.loops["team-a"].garbage
        passes = garbage.passes
        await eventually(lambda: garbage.passes >= passes + 2, message="team-a's passes stalled")
        assert hung.hits > 0
        assert manager.loops["team-b"].garbage.collected == [
            "secret team-b-vms/team-b-lost-userdata"
        ]
