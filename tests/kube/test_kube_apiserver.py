"""The Kubernetes shell against the fake API server over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.client import (
    ApiClient,
    Configuration,
    CoordinationV1Api,
    CoreV1Api,
    CustomObjectsApi,
    PolicyV1Api,
)
from scripted_watch import eventually

from autoscaler.api.disruption import DISRUPTION_ANNOTATION, DisruptionRecord
from autoscaler.core.config import DISRUPTING_TAINT_KEY
from autoscaler.core.model import Pod
from autoscaler.kube import errors
from autoscaler.kube.bootstrap import (
    VM_LABEL,
    cleanup_bootstrap_tokens,
    create_bootstrap_token,
    token_expiry,
)
from autoscaler.kube.clients import KubeconfigError, SecretKeyRef, TenantClients
from autoscaler.kube.convert import pod_from_dict
from autoscaler.kube.drain import DrainSettings, cordon, drain, uncordon
from autoscaler.kube.events import EventKind, EventRecorder, ObjectRef
from autoscaler.kube.informer import Informer, InformerSettings
from autoscaler.kube.leader import LeaderElectionConfig, LeaderElector
from autoscaler.kube.status import Condition, CustomResource, StatusWriter
from autoscaler.rawjson import call_json
from testbed.apiserver import FakeApiServer

GROUP, VERSION = "autoscaling.kvpool.io", "v1alpha1"

NODEPOOL_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"nodepools.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Cluster",
        "names": {"plural": "nodepools", "singular": "nodepool", "kind": "NodePool"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                            "status": {
                                "type": "object",
                                "properties": {
                                    "nodes": {"type": "integer"},
                                    "conditions": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "type": {"type": "string"},
                                                "status": {"type": "string"},
                                                "reason": {"type": "string"},
                                                "message": {"type": "string"},
                                                "lastTransitionTime": {"type": "string"},
                                                "observedGeneration": {"type": "integer"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

FAST_INFORMER = InformerSettings(backoff_base=0.01, backoff_max=0.05, inactivity_timeout=10)


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(crds=[NODEPOOL_CRD], bookmark_interval=0.2) as fake:
        yield fake


@pytest.fixture
async def api(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    client = ApiClient(Configuration(host=server.url))
    yield client
    await client.close()


def pod_body(name: str, node: str | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "image": "app", "resources": {"requests": {"cpu": "250m"}}}]
    }
    if node:
        spec["nodeName"] = node
    metadata = {"name": name, "namespace": "default", "labels": {"app": "web"}}
    metadata.update(extra.pop("metadata", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, **extra}


async def create_running_pod(core: CoreV1Api, body: dict[str, Any], phase: str = "Running") -> None:
    created = await call_json(core.create_namespaced_pod, "default", body)
    created["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True"}]}
    name = created["metadata"]["name"]
    await call_json(core.replace_namespaced_pod_status, name, "default", created)


# Informer -------------------------------------------------------------------------------


async def test_informer_sees_adds_modifies_deletes(api: ApiClient) -> None:
    core = CoreV1Api(api)
    for i in range(3):
        await call_json(core.create_namespaced_pod, "default", pod_body(f"p{i}"))
    informer: Informer[Pod] = Informer(
        "pods", core.list_pod_for_all_namespaces, pod_from_dict, settings=FAST_INFORMER
    )
    informer.start()
    try:
        async with asyncio.timeout(5):
            await informer.has_synced()
        assert sorted(p.name for p in informer.snapshot()) == ["p0", "p1", "p2"]
        await call_json(core.create_namespaced_pod, "default", pod_body("p3"))
        await call_json(
            core.patch_namespaced_pod,
            "p0",
            "default",
            {"metadata": {"labels": {"app": "db"}}},
            _content_type="application/merge-patch+json",
        )
        await call_json(core.delete_namespaced_pod, "p1", "default")
        await eventually(lambda: informer.get("default/p1") is None)
        await eventually(lambda: informer.get("default/p3") is not None)
        p0 = informer.get("default/p0")
        assert p0 is not None and p0.labels == {"app": "db"}
        assert informer.lists == 1
    finally:
        await informer.stop()


async def test_informer_recovers_from_drops_expiry_and_errors(
    server: FakeApiServer, api: ApiClient
) -> None:
    core = CoreV1Api(api)
    reported: list[tuple[str, str, str]] = []
    remove = errors.add_api_error_hook(lambda *labels: reported.append(labels))
    informer: Informer[Pod] = Informer(
        "pods",
        core.list_pod_for_all_namespaces,
        pod_from_dict,
        cluster="tenant",
        settings=InformerSettings(watch_timeout_seconds=1, backoff_base=0.01, backoff_max=0.05),
    )
    informer.start()
    try:
        async with asyncio.timeout(5):
            await informer.has_synced()
        # Watches end every second here, so that the faults below apply to the next one.
        drop = server.faults.drop_watches(after_events=1, times=1, resource="pods")
        await eventually(lambda: drop.hits == 1)
        await call_json(core.create_namespaced_pod, "default", pod_body("a"))
        await call_json(core.create_namespaced_pod, "default", pod_body("b"))
        await eventually(lambda: informer.get("default/b") is not None)
        assert informer.lists == 1  # a dropped stream resumes, it does not re-list
        server.faults.expire_watches(times=1, resource="pods")
        await eventually(lambda: informer.lists == 2)
        await call_json(core.create_namespaced_pod, "default", pod_body("c"))
        await eventually(lambda: informer.get("default/c") is not None)
        failing = server.faults.fail(status=500, verb="watch", resource="pods", times=3)
        await eventually(lambda: failing.hits == 3)
        await call_json(core.create_namespaced_pod, "default", pod_body("d"))
        await eventually(lambda: informer.get("default/d") is not None)
        assert informer.lists == 2
        assert reported.count(("tenant", "watch", "500")) == 3
    finally:
        remove()
        await informer.stop()


async def test_informer_on_custom_objects(api: ApiClient) -> None:
    custom = CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NodePool", "metadata": {"name": "general"}}
    await call_json(custom.create_cluster_custom_object, GROUP, VERSION, "nodepools", body)
    informer: Informer[dict[str, Any]] = Informer(
        "nodepools",
        functools.partial(custom.list_cluster_custom_object, GROUP, VERSION, "nodepools"),
        lambda obj: {"name": obj["metadata"]["name"]},
        settings=FAST_INFORMER,
    )
    informer.start()
    try:
        async with asyncio.timeout(5):
            await informer.has_synced()
        assert informer.snapshot() == ({"name": "general"},)
    finally:
        await informer.stop()


# Leader election ------------------------------------------------------------------------


def lease_config(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(
        namespace="kube-system",
        name="kvpool-leader",
        identity=identity,
        lease_duration=1.0,
        renew_deadline=0.5,
        retry_period=0.1,
    )


async def read_lease(api: ApiClient) -> dict[str, Any]:
    coordination = CoordinationV1Api(api)
    return await call_json(coordination.read_namespaced_lease, "kvpool-leader", "kube-system")


async def test_two_candidates_one_leader_then_failover(server: FakeApiServer) -> None:
    clients = [ApiClient(Configuration(host=server.url)) for _ in range(3)]
    observer = clients[2]
    transitions: list[str] = []
    a = LeaderElector(
        clients[0], lease_config("a"), on_started_leading=lambda: transitions.append("a")
    )
    b = LeaderElector(
        clients[1], lease_config("b"), on_started_leading=lambda: transitions.append("b")
    )
    try:
        a.start()
        b.start()
        await eventually(lambda: a.leading or b.leading)
        await asyncio.sleep(0.5)  # several renewals: still exactly one leader
        assert a.leading != b.leading
        leader, standby = (a, b) if a.leading else (b, a)
        lease = await read_lease(observer)
        assert lease["spec"]["holderIdentity"] == leader.config.identity
        assert standby.observed_holder == leader.config.identity
        # The leader dies without releasing: its connection is gone, so renewals stop.
        await clients[0 if leader is a else 1].close()
        await eventually(lambda: standby.leading, within=5)
        lease = await read_lease(observer)
        assert lease["spec"]["holderIdentity"] == standby.config.identity
        assert lease["spec"]["leaseTransitions"] >= 1
        assert transitions == [leader.config.identity, standby.config.identity]
    finally:
        await a.stop()
        await b.stop()
        for c in clients:
            await c.close()


async def test_leader_steps_down_when_renewal_fails_and_releases_on_stop(
    server: FakeApiServer, api: ApiClient
) -> None:
    lost: list[bool] = []
    elector = LeaderElector(api, lease_config("solo"), on_stopped_leading=lambda: lost.append(True))
    elector.start()
    try:
        await eventually(lambda: elector.leading)
        fault = server.faults.fail(status=500, resource="leases", times=None)
        await eventually(lambda: not elector.leading, within=5)
        assert lost == [True]
        server.faults.remove(fault)
        await eventually(lambda: elector.leading, within=5)
    finally:
        await elector.stop()
    lease = await read_lease(api)
    assert lease["spec"]["holderIdentity"] in ("", None)


def test_leader_election_config_is_checked() -> None:
    with pytest.raises(ValueError, match="renew deadline"):
        LeaderElectionConfig("ns", "l", "me", lease_duration=15, renew_deadline=2, retry_period=2)
    with pytest.raises(ValueError, match="greater than the renew deadline"):
        LeaderElectionConfig("ns", "l", "me", lease_duration=10, renew_deadline=10)
    assert LeaderElectionConfig("ns", "l", "me").lease_duration == 15


# Cordon and drain -----------------------------------------------------------------------


async def make_node_with_pods(api: ApiClient) -> None:
    core = CoreV1Api(api)
    node = {
        "metadata": {"name": "worker-1"},
        "spec": {"taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}]},
    }
    await call_json(core.create_node, node)
    for name in ("web-1", "web-2"):
        await create_running_pod(core, pod_body(name, "worker-1"))
    daemon = pod_body("exporter-x", "worker-1")
    daemon["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "name": "exporter",
            "uid": "ds-1",
            "controller": True,
        }
    ]
    daemon["metadata"]["labels"] = {"app": "exporter"}
    await create_running_pod(core, daemon)
    finished = pod_body("job-1", "worker-1")
    finished["metadata"]["labels"] = {"app": "job"}
    await create_running_pod(core, finished, phase="Succeeded")
    elsewhere = pod_body("elsewhere", "worker-2")
    elsewhere["metadata"]["labels"] = {"app": "other"}
    await create_running_pod(core, elsewhere)
    pdb = {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }
    await call_json(PolicyV1Api(api).create_namespaced_pod_disruption_budget, "default", pdb)


async def test_cordon_and_uncordon(api: ApiClient) -> None:
    core = CoreV1Api(api)
    await make_node_with_pods(api)
    record = DisruptionRecord("Underutilized", 1_700_000_000.0)
    assert await cordon(api, "worker-1", record)
    assert await cordon(api, "worker-1", record)  # idempotent
    node = await call_json(core.read_node, "worker-1")
    assert node["spec"]["unschedulable"] is True
    assert sorted(t["key"] for t in node["spec"]["taints"]) == ["dedicated", DISRUPTING_TAINT_KEY]
    assert await uncordon(api, "worker-1")
    node = await call_json(core.read_node, "worker-1")
    assert not node["spec"].get("unschedulable")
    assert [t["key"] for t in node["spec"]["taints"]] == ["dedicated"]
    assert DISRUPTION_ANNOTATION not in (node["metadata"].get("annotations") or {})
    assert not await cordon(api, "no-such-node", record)


async def test_drain_waits_for_pdb_then_evicts(api: ApiClient) -> None:
    core = CoreV1Api(api)
    await make_node_with_pods(api)
    settings = DrainSettings(timeout=10, poll_interval=0.05, backoff_base=0.05, backoff_max=0.2)
    assert await cordon(api, "worker-1", DisruptionRecord("Empty", 0.0))
    draining = asyncio.create_task(drain(api, "worker-1", settings))
    await asyncio.sleep(0.3)
    assert not draining.done()  # the budget refuses every eviction for now
    await call_json(
        PolicyV1Api(api).patch_namespaced_pod_disruption_budget,
        "web",
        "default",
        {"spec": {"minAvailable": 0}},
        _content_type="application/merge-patch+json",
    )
    result = await asyncio.wait_for(draining, 10)
    assert result.evicted == ("default/web-1", "default/web-2")
    assert result.done
    remaining = await call_json(core.list_pod_for_all_namespaces)
    assert sorted(p["metadata"]["name"] for p in remaining["items"]) == [
        "elsewhere",
        "exporter-x",
        "job-1",
    ]


async def test_drain_reports_pods_a_budget_keeps_blocking(api: ApiClient) -> None:
    await make_node_with_pods(api)
    settings = DrainSettings(timeout=0.5, poll_interval=0.05, backoff_base=0.05, backoff_max=0.1)
    assert await cordon(api, "worker-1", DisruptionRecord("Empty", 0.0))
    result = await drain(api, "worker-1", settings)
    assert result.blocked == ("default/web-1", "default/web-2")
    assert result.evicted == () and not result.done


async def test_drain_of_an_empty_cordoned_node_is_done(api: ApiClient) -> None:
    await call_json(CoreV1Api(api).create_node, {"metadata": {"name": "empty"}})
    assert await cordon(api, "empty", DisruptionRecord("Empty", 0.0))
    result = await drain(api, "empty", DrainSettings(timeout=1))
    assert result.done and result.evicted == ()


async def test_no_drain_starts_on_a_node_that_is_not_cordoned_or_does_not_exist(
    api: ApiClient,
) -> None:
    await make_node_with_pods(api)
    result = await drain(api, "worker-1", DrainSettings(timeout=1))
    assert "not cordoned" in result.not_started and not result.done
    assert result.evicted == () and result.blocked == ()
    result = await drain(api, "nothing-here", DrainSettings(timeout=1))
    assert "does not exist" in result.not_started and not result.done


# Bootstrap tokens -----------------------------------------------------------------------


async def test_bootstrap_tokens_are_created_and_cleaned_up(api: ApiClient) -> None:
    core = CoreV1Api(api)
    now = 1_700_000_000.0
    first = await create_bootstrap_token(api, "team-a", "vm-1", now, ttl=600)
    second = await create_bootstrap_token(api, "team-a", "vm-2", now, ttl=600)
    other = await create_bootstrap_token(api, "team-b", "vm-9", now, ttl=60)
    secret = await call_json(core.read_namespaced_secret, first.secret_name, "kube-system")
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["token-id"] == first.token.token_id
    assert data["token-secret"] == first.token.secret
    assert token_expiry(secret) == now + 600
    assert secret["metadata"]["labels"][VM_LABEL] == "vm-1"

    deleted = await cleanup_bootstrap_tokens(api, "team-a", {"vm-1"}, now + 10)
    assert deleted == [second.secret_name]
    deleted = await cleanup_bootstrap_tokens(api, "team-a", {"vm-1"}, now + 601)
    assert deleted == [first.secret_name]
    left = await call_json(core.list_namespaced_secret, "kube-system")
    assert [s["metadata"]["name"] for s in left["items"]] == [other.secret_name]


# Events ---------------------------------------------------------------------------------


async def test_repeated_events_are_counted_not_duplicated(api: ApiClient) -> None:
    core = CoreV1Api(api)
    now = [1_700_000_000.0]
    recorder = EventRecorder(api, repeat_interval=60, clock=lambda: now[0])
    pool = ObjectRef(f"{GROUP}/{VERSION}", "NodePool", "general", uid="u-1")
    for _ in range(3):
        await recorder.warning(pool, "InvalidAnnotation", "kvpool.io/max-nodes: not a number")
        now[0] += 1
    events = (await call_json(core.list_namespaced_event, "default"))["items"]
    assert len(events) == 1 and events[0]["count"] == 1
    assert events[0]["involvedObject"]["kind"] == "NodePool"
    assert events[0]["type"] == "Warning"
    now[0] += 60
    await recorder.warning(pool, "InvalidAnnotation", "kvpool.io/max-nodes: not a number")
    events = (await call_json(core.list_namespaced_event, "default"))["items"]
    assert len(events) == 1 and events[0]["count"] == 4
    await recorder.record(pool, "ScaledUp", "launched 1 VM", EventKind.NORMAL)
    events = (await call_json(core.list_namespaced_event, "default"))["items"]
    assert sorted(e["reason"] for e in events) == ["InvalidAnnotation", "ScaledUp"]


async def test_event_recording_never_raises(server: FakeApiServer, api: ApiClient) -> None:
    server.faults.fail(status=500, resource="events", times=None)
    recorder = EventRecorder(api)
    await recorder.normal(ObjectRef("v1", "Pod", "p", "default"), "Test", "message")


# Status conditions ----------------------------------------------------------------------


async def test_status_conditions_keep_transition_time(api: ApiClient) -> None:
    custom = CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NodePool",
        "metadata": {"name": "general"},
        "spec": {"template": {}},
    }
    await call_json(custom.create_cluster_custom_object, GROUP, VERSION, "nodepools", body)
    target = CustomResource(GROUP, VERSION, "nodepools", "general")
    writer = StatusWriter(api)
    t0 = 1_700_000_000.0
    ready = Condition("Ready", True, "PoolValid", "all annotations valid")
    assert await writer.update(target, [ready], {"nodes": 3}, now=t0)
    obj = await call_json(custom.get_cluster_custom_object, GROUP, VERSION, "nodepools", "general")
    (condition,) = obj["status"]["conditions"]
    assert condition["status"] == "True" and condition["observedGeneration"] == 1
    assert obj["status"]["nodes"] == 3
    first_transition = condition["lastTransitionTime"]

    again = Condition("Ready", True, "PoolValid", "still valid")
    assert await writer.update(target, [again], now=t0 + 100)
    obj = await call_json(custom.get_cluster_custom_object, GROUP, VERSION, "nodepools", "general")
    (condition,) = obj["status"]["conditions"]
    assert condition["lastTransitionTime"] == first_transition
    assert condition["message"] == "still valid"

    broken = Condition("Ready", False, "InvalidAnnotation", "kvpool.io/cpu: bad range")
    assert await writer.update(target, [broken], now=t0 + 200)
    obj = await call_json(custom.get_cluster_custom_object, GROUP, VERSION, "nodepools", "general")
    (condition,) = obj["status"]["conditions"]
    assert condition["lastTransitionTime"] != first_transition
    assert condition["status"] == "False"


async def test_status_of_missing_object_and_unknown_field_do_not_raise(api: ApiClient) -> None:
    writer = StatusWriter(api)
    missing = CustomResource(GROUP, VERSION, "nodepools", "nope")
    assert not await writer.update(missing, [Condition("Ready", True, "Ok")], now=0)
    custom = CustomObjectsApi(api)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "NodePool", "metadata": {"name": "p"}}
    await call_json(custom.create_cluster_custom_object, GROUP, VERSION, "nodepools", body)
    target = CustomResource(GROUP, VERSION, "nodepools", "p")
    # Strict field validation rejects a misspelt field instead of dropping it silently.
    assert not await writer.update(target, fields={"nodez": 1}, now=0)
    obj = await call_json(custom.get_cluster_custom_object, GROUP, VERSION, "nodepools", "p")
    assert "nodez" not in (obj.get("status") or {})


# Tenant clients -------------------------------------------------------------------------


async def put_kubeconfig_secret(core: CoreV1Api, kubeconfig: Any, name: str = "team-a") -> None:
    text = kubeconfig if isinstance(kubeconfig, str) else yaml.safe_dump(kubeconfig)
    body = {
        "metadata": {"name": name, "namespace": "default"},
        "data": {"value": base64.b64encode(text.encode()).decode()},
    }
    try:
        await call_json(core.create_namespaced_secret, "default", body)
    except Exception as exc:
        if not errors.is_conflict(exc):
            raise
        await call_json(core.replace_namespaced_secret, name, "default", body)


async def test_tenant_clients_follow_their_secret(server: FakeApiServer, api: ApiClient) -> None:
    core = CoreV1Api(api)
    await put_kubeconfig_secret(core, server.kubeconfig())
    clients = TenantClients(api)
    ref = SecretKeyRef("default", "team-a")
    try:
        first = await clients.get("team-a", ref)
        namespaces = await call_json(CoreV1Api(first.api).list_namespace)
        assert "kube-system" in {n["metadata"]["name"] for n in namespaces["items"]}
        assert await clients.get("team-a", ref) is first
        await put_kubeconfig_secret(core, server.kubeconfig(name="renamed"))
        second = await clients.get("team-a", ref)
        assert second is not first and second.secret_version != first.secret_version
        await call_json(CoreV1Api(second.api).list_namespace)

        await put_kubeconfig_secret(core, "clusters: [", name="broken")
        with pytest.raises(KubeconfigError, match="not valid YAML"):
            await clients.get("team-b", SecretKeyRef("default", "broken"))
        with pytest.raises(KubeconfigError, match="does not exist"):
            await clients.get("team-c", SecretKeyRef("default", "absent"))
        with pytest.raises(KubeconfigError, match="no such key"):
            await clients.get("team-a", SecretKeyRef("default", "team-a", key="other"))
        await clients.retain(["someone-else"])
        assert clients.cached("team-a") is None
    finally:
        await clients.close()
