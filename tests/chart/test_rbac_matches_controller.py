"""The chart's RBAC and the tenant identity grant exactly what the controller uses.

The real controller (``start_controller``, as ``kubevirt-autoscaler run`` starts it with the
settings the chart's Deployment gives it) runs one whole life cycle against a fake management
and a fake tenant API server, with the kubevirt and scheduler agents. Every request it makes is
taken from the servers' audit and mapped to the grant the API server's authorizer would need:
each must be granted (no less), and each rule must have been needed (no more).
"""

from __future__ import annotations

import base64
import functools
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_helpers import container, render
from kubernetes_asyncio import config
from rbac_grants import Call, Rule, call_of, chart_rules, covers, tenant_rules

from autoscaler.controller import manager as manager_module
from autoscaler.controller import tenant as tenant_module
from autoscaler.controller.app import start_controller
from autoscaler.controller.settings import Settings
from autoscaler.kube.events import EventRecorder
from testbed.apiserver import AuditEntry, FakeApiServer
from testbed.kubeconfig import kubeconfig_dict

# The integration world's helpers live next to the integration tests.
INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

from controller_world import (  # noqa: E402
    NAMESPACE,
    add_pending,
    cluster_agents,
    delete,
    eventually,
    exists,
    items,
    nodepool,
    patch,
    pod,
    put,
    vms,
    world,
)

# The controller reaches both servers by this name; the agents use 127.0.0.1, so the audit
# tells their requests apart.
CONTROLLER_HOST = "localhost"
TENANT = "team-a"
VM_NAMESPACE = f"{TENANT}-vms"
POOLS = "nodepools.autoscaling.kvpool.io"
VMS = "virtualmachines.kubevirt.io"
IMAGES = [
    {"name": "k8s-1.31", "containerDisk": "registry.example/k8s:v1.31"},
    {
        "name": "golden",
        "dataVolume": {"sourcePVC": {"namespace": "images", "name": "k8s-golden"}, "size": "20Gi"},
    },
]
FAST = {
    "identity": "replica-0",
    "metrics_host": "127.0.0.1",
    "metrics_port": 0,
    "lease_duration_seconds": 3.0,
    "renew_deadline_seconds": 2.0,
    "retry_period_seconds": 0.2,
    "batch_idle_seconds": 0.05,
    "batch_max_seconds": 0.5,
    "scan_interval_seconds": 0.2,
    "host_refresh_seconds": 0.2,
    "tenant_resync_seconds": 0.5,
    "garbage_interval_seconds": 0.5,
    # Long enough that the user-data Secret a failed launch leaves is reused, not collected.
    "orphan_grace_seconds": 60.0,
    "tenant_probe_timeout_seconds": 1.0,
    "watch_backoff_max_seconds": 0.2,
    "core": {
        "scale_down_validation_delay": 0.2,
        "drain_retry_interval": 0.3,
        "delete_delay_after_drain": 0.1,
        "backoff_base": 0.3,
        "backoff_max": 1.0,
    },
}


# Mapping requests to grants -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/pods", {"watch": "true"}, Call("", "pods", "watch")),
        ("GET", "/api/v1/watch/nodes", {}, Call("", "nodes", "watch")),
        ("GET", "/api/v1/nodes/n1", {}, Call("", "nodes", "get", None, "n1")),
        (
            "POST",
            "/api/v1/namespaces/default/pods/web/eviction",
            {},
            Call("", "pods/eviction", "create", "default", "web"),
        ),
        (
            "PATCH",
            "/apis/autoscaling.kvpool.io/v1alpha1/namespaces/ns/tenantclusters/a/status",
            {},
            Call("autoscaling.kvpool.io", "tenantclusters/status", "patch", "ns", "a"),
        ),
        (
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l",
            {},
            Call("coordination.k8s.io", "leases", "update", "ns", "l"),
        ),
        (
            "DELETE",
            "/api/v1/namespaces/ns/secrets",
            {},
            Call("", "secrets", "deletecollection", "ns"),
        ),
        ("GET", "/api/v1/namespaces/ns", {}, Call("", "namespaces", "get", None, "ns")),
        ("GET", "/version", {}, None),
        ("GET", "/apis/kubevirt.io/v1", {}, None),
    ],
)
def test_requests_map_to_the_grants_the_authorizer_checks(
    method: str, path: str, query: dict[str, str], expected: Call | None
) -> None:
    assert call_of(method, path, query) == expected


def test_a_named_rule_covers_only_its_names_and_a_role_only_its_namespace() -> None:
    lease = Rule("Role/ns/r", "ns", "coordination.k8s.io", "leases", "get", frozenset({"l"}))
    assert covers(lease, Call("coordination.k8s.io", "leases", "get", "ns", "l"))
    assert not covers(lease, Call("coordination.k8s.io", "leases", "get", "ns", "other"))
    assert not covers(lease, Call("coordination.k8s.io", "leases", "get", "elsewhere", "l"))
    anywhere = Rule("ClusterRole/c", None, "", "secrets", "list")
    assert covers(anywhere, Call("", "secrets", "list", "ns"))
    assert covers(anywhere, Call("", "secrets", "list"))


# The life cycle -------------------------------------------------------------------------------


def controller_requests(server: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> list[AuditEntry]:
    """The audit entries of the requests that reached ``server`` by CONTROLLER_HOST."""
    ours: list[AuditEntry] = []
    record = server._record

    def tagged(request: Any, verb: str, resource: str, code: int) -> None:
        record(request, verb, resource, code)
        if request.url.host == CONTROLLER_HOST:
            ours.append(server.audit[-1])

    monkeypatch.setattr(server, "_record", tagged)
    return ours


def calls_of(entries: list[AuditEntry]) -> list[Call]:
    """Every request as a call, without discovery and without what was refused as 401/403."""
    mapped = (call_of(e.method, e.path, e.query) for e in entries if e.code not in (401, 403))
    return [call for call in mapped if call is not None]


def chart_settings() -> Settings:
    """The settings the chart's Deployment gives the controller, with fast timings."""
    env = {var["name"]: var["value"] for var in container(render())["env"] if "value" in var}
    from_chart = {name.removeprefix("KVPOOL_").lower(): value for name, value in env.items()}
    kept = {key: from_chart[key] for key in ("namespace", "leader_elect", "lease_name")}
    return Settings.model_validate({**kept, **FAST})


def controller_kubeconfig(server: FakeApiServer) -> dict[str, Any]:
    return kubeconfig_dict(f"http://{CONTROLLER_HOST}:{server.port}")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def node_of(tenant: FakeApiServer, name: str) -> str:
    (found,) = [p for p in items(tenant, "pods") if p["metadata"]["name"] == name]
    return str(found["spec"].get("nodeName") or "")


def events(server: FakeApiServer, reason: str) -> list[dict[str, Any]]:
    return [e for e in items(server, "events") if e.get("reason") == reason]


def pool_ready_reason_is(tenant: FakeApiServer, name: str, reason: str) -> bool:
    obj = next(p for p in items(tenant, POOLS) if p["metadata"]["name"] == name)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["reason"] == reason for c in conditions)


def repeat_events_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every repeat of an Event as its own update (normally one a minute at most)."""
    quick = functools.partial(EventRecorder, repeat_interval=0.0)
    monkeypatch.setattr(manager_module, "EventRecorder", quick)
    monkeypatch.setattr(tenant_module, "EventRecorder", quick)


def squatter_vm(name: str) -> dict[str, Any]:
    """A VirtualMachine that is not ours, with the name the controller wants to use."""
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": name, "namespace": VM_NAMESPACE},
        "spec": {"runStrategy": "Halted", "template": {"spec": {"domain": {"devices": {}}}}},
    }


async def run_life_cycle(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Call], list[Call]]:
    """One life cycle of the controller; the calls it made to the management and the tenant."""
    async with world() as w:
        tenant = await w.add_tenant(TENANT, images=IMAGES)
        management_log = controller_requests(w.management, monkeypatch)
        tenant_log = controller_requests(tenant, monkeypatch)
        kubeconfig = yaml.safe_dump(controller_kubeconfig(tenant))
        patch(
            w.management,
            "secrets",
            f"{TENANT}-kubeconfig",
            {"data": {"value": b64(kubeconfig)}},
            NAMESPACE,
        )
        put(tenant, POOLS, nodepool("disk", cpu="1-2", max_nodes="3"))
        put(tenant, POOLS, nodepool("golden", image="golden", cpu="1-2"))
        put(
            tenant,
            "secrets",
            {
                "metadata": {
                    "name": "bootstrap-token-old123",
                    "namespace": "kube-system",
                    "labels": {"kvpool.io/tenant": TENANT, "kvpool.io/vm": "gone-vm"},
                },
                "type": "bootstrap.kubernetes.io/token",
                "data": {"expiration": b64("2000-01-01T00:00:00Z")},
            },
        )
        # VM creation fails for now: the launch is retried, reusing its user-data Secret, and
        # the same failure is recorded twice.
        failing = w.management.faults.fail(
            status=500, times=None, verb="create", resource="virtualmachines"
        )
        api = await config.new_client_from_config_dict(controller_kubeconfig(w.management))
        repeat_events_at_once(monkeypatch)
        controller = await start_controller(chart_settings(), management=api)
        try:
            await eventually(lambda: controller.leading, message="never led")
            add_pending(tenant, "web-0", cpu="1500m", memory="1Gi", node_selector={"pool": "disk"})
            await eventually(lambda: failing.hits >= 2, message="the launch was not retried")
            await eventually(
                lambda: any(e.get("count", 1) >= 2 for e in events(w.management, "LaunchFailed")),
                message="the repeated failure was not counted on its Event",
            )
            await eventually(
                lambda: not exists(tenant, "secrets", "bootstrap-token-old123", "kube-system"),
                message="garbage collection did not remove the expired token",
            )

            # A VM that is not ours holds the name: the launch is refused, nothing is touched.
            (left,) = [
                s["metadata"]["name"]
                for s in items(w.management, "secrets", VM_NAMESPACE)
                if s["metadata"]["name"].endswith("-userdata")
            ]
            name = left.removesuffix("-userdata")
            put(w.management, VMS, squatter_vm(name), VM_NAMESPACE)
            w.management.faults.remove(failing)
            await eventually(
                lambda: any(
                    "not managed" in e["message"] for e in events(w.management, "LaunchFailed")
                ),
                message="the foreign VM was not noticed",
            )
            delete(w.management, VMS, name, VM_NAMESPACE)

            async with cluster_agents(w, [TENANT]):
                await eventually(
                    lambda: node_of(tenant, "web-0"), within=15, message="web-0 unbound"
                )
                put(
                    tenant,
                    "pods",
                    pod("web-1", cpu="1500m", memory="1Gi", node_selector={"pool": "disk"}),
                )
                put(
                    tenant,
                    "pods",
                    pod("db-0", cpu="500m", memory="1Gi", node_selector={"pool": "golden"}),
                )
                await eventually(
                    lambda: node_of(tenant, "web-1") and node_of(tenant, "db-0"),
                    within=15,
                    message="pods of the second wave unbound",
                )
                put(
                    tenant,
                    "pods",
                    pod("small-0", cpu="100m", memory="128Mi", node_selector={"pool": "disk"}),
                )
                await eventually(lambda: node_of(tenant, "small-0"), message="small-0 unbound")
                # Load goes: the node of small-0 keeps only it, which is drained onto another.
                # (Consolidation may already have drained a node earlier in this life cycle; in
                # this world nothing recreates an evicted pod, so wait for any eviction.)
                crowded = node_of(tenant, "small-0")
                for p in items(tenant, "pods"):
                    name = p["metadata"]["name"]
                    if name == "db-0" or (name != "small-0" and p["spec"]["nodeName"] == crowded):
                        delete(tenant, "pods", name, "default")
                await eventually(
                    lambda: any(c.resource == "pods/eviction" for c in calls_of(tenant_log)),
                    within=30,
                    message="no pod was evicted",
                )

                # A bad annotation, fixed, then the same mistake again: one Event, counted twice.
                # It ends fixed: the nodes of an invalid pool are left alone, never removed.
                for value in ("lots", "10", "lots", "10"):
                    patch(
                        tenant,
                        POOLS,
                        "golden",
                        {"metadata": {"annotations": {"kvpool.io/max-nodes": value}}},
                    )
                    wanted = "InvalidAnnotations" if value == "lots" else "Valid"
                    await eventually(
                        functools.partial(pool_ready_reason_is, tenant, "golden", wanted),
                        message=f"max-nodes {value!r}: the NodePool is not {wanted}",
                    )
                await eventually(
                    lambda: any(
                        e.get("count", 1) >= 2 for e in events(tenant, "InvalidAnnotations")
                    ),
                    message="the repeated NodePool Event was not counted",
                )

                for p in items(tenant, "pods"):
                    delete(tenant, "pods", p["metadata"]["name"], "default")
                await eventually(
                    lambda: not vms(w.management, VM_NAMESPACE), within=30, message="VMs left"
                )
                await eventually(lambda: not items(tenant, "nodes"), message="nodes left")
                await eventually(
                    lambda: not items(tenant, "secrets", "kube-system"), message="tokens left"
                )
        finally:
            await controller.stop()
    return calls_of(management_log), calls_of(tenant_log)


def ungranted(calls: list[Call], rules: list[Rule]) -> list[str]:
    return sorted({str(c) for c in calls if not any(covers(rule, c) for rule in rules)})


def unused(rules: list[Rule], calls: list[Call]) -> list[str]:
    return sorted(
        f"{rule.role}: {rule.verb} {rule.resource}.{rule.group or 'core'}"
        + (f" {sorted(rule.names)}" if rule.names else "")
        for rule in rules
        if not any(covers(rule, c) for c in calls)
    )


async def test_the_rbac_grants_exactly_what_a_whole_life_cycle_of_the_controller_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    management, tenant = await run_life_cycle(monkeypatch)
    assert ungranted(management, chart_rules()) == [], "the chart grants less than is used"
    assert unused(chart_rules(), management) == [], "the chart grants more than is used"
    assert ungranted(tenant, tenant_rules()) == [], "the tenant identity grants less than is used"
    assert unused(tenant_rules(), tenant) == [], "the tenant identity grants more than is used"
