"""Zones end to end: hosts' zone labels pin VMs, and tenant Nodes register with them."""

from __future__ import annotations

from typing import Any

from controller_world import (
    add_pending,
    cluster_agents,
    eventually,
    get,
    host,
    items,
    mark_unschedulable,
    nodepool,
    pod,
    put,
    vms,
    world,
)

from autoscaler.api.naming import REGION_LABEL, ZONE_LABEL

ZONES = {"host-a": "zone-a", "host-b": "zone-b"}


def zoned_hosts(management: Any) -> None:
    for name, zone in ZONES.items():
        put(management, "nodes", host(name, labels={ZONE_LABEL: zone, REGION_LABEL: "eu"}))


def selector(vm: dict[str, Any]) -> dict[str, str]:
    return dict(vm["spec"]["template"]["spec"].get("nodeSelector") or {})


async def test_pod_requiring_a_zone_gets_a_vm_pinned_there_and_a_node_labelled_with_it() -> None:
    async with world(hosts=0) as w:
        zoned_hosts(w.management)
        tenant = await w.add_tenant("team-a")
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        add_pending(tenant, "web-0", cpu="1", memory="1Gi", node_selector={ZONE_LABEL: "zone-b"})
        await w.manager()

        (vm,) = await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM")
        assert selector(vm) == {ZONE_LABEL: "zone-b", REGION_LABEL: "eu"}
        async with cluster_agents(w, ["team-a"]):
            pod = await eventually(
                lambda: next((p for p in items(tenant, "pods") if p["spec"].get("nodeName")), None),
                message="pod not bound",
            )
            (node,) = [
                n
                for n in items(tenant, "nodes")
                if n["metadata"]["name"] == pod["spec"]["nodeName"]
            ]
            assert node["metadata"]["labels"][ZONE_LABEL] == "zone-b"
            assert node["metadata"]["labels"][REGION_LABEL] == "eu"
            vmis = items(w.management, "virtualmachineinstances.kubevirt.io", "team-a-vms")
            assert [v["status"]["nodeName"] for v in vmis] == ["host-b"]


async def test_tenant_restricted_to_a_zone_launches_only_there() -> None:
    async with world(hosts=0) as w:
        zoned_hosts(w.management)
        tenant = await w.add_tenant("team-a", zones=["zone-a"])
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        add_pending(tenant, "web-1", cpu="1", memory="1Gi", node_selector={ZONE_LABEL: "zone-b"})
        await w.manager()

        launched = await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM")
        assert [selector(vm)[ZONE_LABEL] for vm in launched] == ["zone-a"]


async def test_pod_with_a_zonal_volume_gets_a_vm_in_the_volume_zone() -> None:
    async with world(hosts=0) as w:
        zoned_hosts(w.management)
        tenant = await w.add_tenant("team-a")
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        put(
            tenant,
            "persistentvolumes",
            {
                "metadata": {"name": "pv-data", "labels": {ZONE_LABEL: "zone-b"}},
                "spec": {
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "claimRef": {"namespace": "default", "name": "data"},
                    "csi": {"driver": "csi.example.com", "volumeHandle": "disk-1"},
                },
            },
        )
        put(
            tenant,
            "persistentvolumeclaims",
            {
                "metadata": {
                    "name": "data",
                    "namespace": "default",
                    "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
                },
                "spec": {
                    "volumeName": "pv-data",
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "10Gi"}},
                },
            },
        )
        put(
            tenant,
            "storageclasses.storage.k8s.io",
            {"metadata": {"name": "unused"}, "provisioner": "csi.example.com"},
        )
        body = pod("db-0", cpu="1", memory="1Gi")
        body["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
        put(tenant, "pods", body)
        mark_unschedulable(tenant, "db-0")
        add_pending(tenant, "waits", cpu="1", memory="1Gi")
        waiting = pod("waits-for-claim", cpu="1", memory="1Gi")
        waiting["spec"]["volumes"] = [{"name": "d", "persistentVolumeClaim": {"claimName": "nope"}}]
        put(tenant, "pods", waiting)
        mark_unschedulable(tenant, "waits-for-claim")
        manager = await w.manager()

        launched = await eventually(
            lambda: len(vms(w.management, "team-a-vms")) >= 2 and vms(w.management, "team-a-vms"),
            message="no VMs",
        )
        zones = sorted(selector(vm)[ZONE_LABEL] for vm in launched)
        assert "zone-b" in zones
        loop = manager.loops["team-a"].loop

        def blocked() -> list[str]:
            plan = loop.last_plan
            explanations = plan.explanations if plan else ()
            return [e.message for e in explanations if e.verdict == "VolumeBlocked"]

        assert await eventually(blocked) == ['persistentvolumeclaim "nope" not found']

        async with cluster_agents(w, ["team-a"]):

            def node_of(name: str) -> dict[str, Any] | None:
                bound = get(tenant, "pods", name, "default")["spec"].get("nodeName")
                return get(tenant, "nodes", bound) if bound else None

            db_node = await eventually(lambda: node_of("db-0"), message="db-0 not bound")
            assert db_node["metadata"]["labels"][ZONE_LABEL] == "zone-b"
            await eventually(lambda: node_of("waits"), message="waits not bound")
            stuck = get(tenant, "pods", "waits-for-claim", "default")
            assert not stuck["spec"].get("nodeName")
            (condition,) = [c for c in stuck["status"]["conditions"] if c["type"] == "PodScheduled"]
            assert condition["message"] == 'persistentvolumeclaim "nope" not found'
