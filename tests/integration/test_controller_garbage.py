"""Orphans are collected: user-data Secrets without VM, expired tokens, VMs of removed tenants."""

from __future__ import annotations

import base64

from controller_world import (
    NAMESPACE,
    add_pending,
    delete,
    eventually,
    exists,
    items,
    nodepool,
    put,
    vms,
    world,
)

from autoscaler.api.naming import MANAGED_BY, MANAGED_BY_LABEL, TENANT_LABEL

TENANTS = "tenantclusters.autoscaling.kvpool.io"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_orphaned_secrets_expired_tokens_and_vms_of_removed_tenants_are_collected() -> None:
    async with world() as w:
        tenant = await w.add_tenant("team-a")
        put(tenant, "nodepools.autoscaling.kvpool.io", nodepool("general"))
        ours = {TENANT_LABEL: "team-a", MANAGED_BY_LABEL: MANAGED_BY}
        put(
            w.management,
            "secrets",
            {
                "metadata": {
                    "name": "team-a-lost-userdata",
                    "namespace": "team-a-vms",
                    "labels": ours,
                },
                "data": {"userdata": b64("#cloud-config")},
            },
        )
        put(
            w.management,
            "secrets",
            {
                "metadata": {"name": "unrelated-userdata", "namespace": "team-a-vms"},
                "data": {"userdata": b64("#cloud-config")},
            },
        )
        put(
            tenant,
            "secrets",
            {
                "metadata": {
                    "name": "bootstrap-token-old123",
                    "namespace": "kube-system",
                    "labels": {TENANT_LABEL: "team-a", "kvpool.io/vm": "gone-vm"},
                },
                "type": "bootstrap.kubernetes.io/token",
                "data": {"expiration": b64("2000-01-01T00:00:00Z")},
            },
        )
        add_pending(tenant, "web-0", cpu="1", memory="1Gi")
        manager = await w.manager()
        launched = await eventually(lambda: vms(w.management, "team-a-vms"), message="no VM")

        await eventually(
            lambda: not exists(w.management, "secrets", "team-a-lost-userdata", "team-a-vms"),
            message="orphaned user-data Secret kept",
        )
        assert exists(w.management, "secrets", "unrelated-userdata", "team-a-vms")
        await eventually(
            lambda: not exists(tenant, "secrets", "bootstrap-token-old123", "kube-system"),
            message="expired token kept",
        )
        name = launched[0]["metadata"]["name"]
        assert exists(w.management, "secrets", f"{name}-userdata", "team-a-vms")
        assert items(tenant, "secrets", "kube-system", labels=f"kvpool.io/vm={name}")

        delete(w.management, TENANTS, "team-a", NAMESPACE)
        await eventually(lambda: "team-a" not in manager.loops, message="loop kept running")
        await eventually(
            lambda: not vms(w.management, "team-a-vms"), message="VM of a removed tenant kept"
        )
        await eventually(
            lambda: not exists(w.management, "secrets", f"{name}-userdata", "team-a-vms"),
            message="its user data kept",
        )
