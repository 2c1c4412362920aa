"""Scale up from zero against fake API servers over HTTP."""

from __future__ import annotations

import base64

from controller_world import (
    add_pending,
    cluster_agents,
    eventually,
    get,
    items,
    nodepool,
    put,
    vms,
    world,
)
from prometheus_client import generate_latest

from autoscaler.api.naming import IMAGE_HASH_LABEL, POOL_LABEL, SHAPE_LABEL, TENANT_LABEL
from autoscaler.observability.metrics import Metrics


async def test_pending_pods_get_right_sized_vms_that_join_and_take_the_pods() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        for index in range(3):
            add_pending(tenant, f"web-{index}", cpu="1", memory="1Gi")
        metrics = Metrics()
        await w.manager(metrics=metrics)

        launched = await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM")
        vm = launched[0]
        labels = vm["metadata"]["labels"]
        assert labels[TENANT_LABEL] == "team-a"
        assert labels[POOL_LABEL] == "general"
        assert labels[IMAGE_HASH_LABEL] and labels[SHAPE_LABEL]
        volumes = vm["spec"]["template"]["spec"]["volumes"]
        disk = next(v for v in volumes if "containerDisk" in v)
        assert disk["containerDisk"]["image"] == "registry.example/k8s:v1.31"
        secret_name = next(v for v in volumes if "cloudInitNoCloud" in v)["cloudInitNoCloud"][
            "secretRef"
        ]["name"]
        secret = get(w.management, "secrets", secret_name, "team-a-vms")
        user_data = base64.b64decode(secret["data"]["userdata"]).decode()
        assert "kubeadm" in user_data and "team-a.example:6443" in user_data
        tokens = items(tenant, "secrets", "kube-system")
        assert any(t["type"] == "bootstrap.kubernetes.io/token" for t in tokens)

        async with cluster_agents(w, ["team-a"]):
            await eventually(
                lambda: all(p["spec"].get("nodeName") for p in items(tenant, "pods")),
                message="pods not bound",
            )
        text = generate_latest(metrics.registry).decode()
        assert (
            'kvpool_vm_launches_total{pool="general",reason="PendingPods",result="success",tenant="team-a"}'
            in text
        )
        assert 'kvpool_tenant_connected{tenant="team-a"} 1.0' in text
