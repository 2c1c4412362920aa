"""The live check before a VM is deleted, and the actuator that obeys it, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api

from autoscaler.api.models import API_VERSION
from autoscaler.api.policy import ImageSource, Shape
from autoscaler.controller.actuator import Actuator, ActuatorOptions, PlanContext
from autoscaler.controller.boot import BootTracker
from autoscaler.core.actions import DeleteVM, Reason
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.kube.events import EventRecorder, ObjectRef
from autoscaler.kube.removal_check import blocks_removal, read_live_node
from autoscaler.observability.metrics import Metrics
from autoscaler.providers.protocol import LaunchRequest
from autoscaler.providers.recording import RecordingProvider
from autoscaler.rawjson import call_json
from testbed.apiserver import FakeApiServer


def pod(
    *,
    phase: str = "Running",
    owner: str | None = "ReplicaSet",
    mirror: bool = False,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default"}
    if owner is not None:
        meta["ownerReferences"] = [{"kind": owner, "name": "o", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "hash"}
    if deleting:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase}}


# The pods kubectl drain leaves alone or skips, as facts (kubectl's
# staging/src/k8s.io/kubectl/pkg/drain/filters.go: daemonSetFilter, mirrorPodFilter,
# skipDeletedFilter, and the finished-pod check), and the pods that must hold a deletion.
@pytest.mark.parametrize(
    ("case", "body", "blocks"),
    [
        ("running ReplicaSet pod", pod(), True),
        ("pending bound pod", pod(phase="Pending"), True),
        ("bare pod", pod(owner=None), True),
        ("StatefulSet pod", pod(owner="StatefulSet"), True),
        ("DaemonSet pod", pod(owner="DaemonSet"), False),
        ("mirror pod", pod(owner="Node", mirror=True), False),
        ("succeeded pod", pod(phase="Succeeded"), False),
        ("failed pod", pod(phase="Failed"), False),
        ("pod being deleted", pod(deleting=True), False),
        ("unknown phase", pod(phase="Unknown"), True),
    ],
)
def test_which_pods_hold_a_deletion(case: str, body: dict[str, Any], blocks: bool) -> None:
    assert blocks_removal(body) is blocks, case


@pytest.fixture
async def server() -> AsyncIterator[FakeApiServer]:
    async with FakeApiServer(bookmark_interval=0.2) as fake:
        yield fake


@pytest.fixture
async def api(server: FakeApiServer) -> AsyncIterator[ApiClient]:
    client = ApiClient(Configuration(host=server.url))
    yield client
    await client.close()


async def add_node(api: ApiClient, name: str) -> None:
    await call_json(CoreV1Api(api).create_node, {"metadata": {"name": name}})


async def add_pod(api: ApiClient, name: str, node: str) -> None:
    body = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
    }
    await call_json(CoreV1Api(api).create_namespaced_pod, "default", body)


async def test_the_live_read_names_the_pods_on_the_node_only(api: ApiClient) -> None:
    await add_node(api, "n1")
    await add_pod(api, "web-a", "n1")
    await add_pod(api, "web-b", "n2")
    live = await read_live_node(api, "n1", 5.0)
    assert live.exists and live.uid and live.blocking == ("default/web-a",)
    gone = await read_live_node(api, "never-registered", 5.0)
    assert not gone.exists and gone.clear


def actuator(api: ApiClient, provider: RecordingProvider) -> Actuator:
    ref = ObjectRef(API_VERSION, "TenantCluster", "team-a", "kvpool-system")
    return Actuator(
        "team-a",
        api,
        provider,
        ledger=HostCapacityLedger(),
        metrics=Metrics(),
        events=EventRecorder(api, instance="test"),
        tenant_ref=ref,
        boot=BootTracker(),
        options=ActuatorOptions(verify_timeout=2.0),
        tenant_events=EventRecorder(api, instance="test"),
    )


async def launched(provider: RecordingProvider, name: str) -> None:
    image = ImageSource("img", container_disk="registry.example/worker:v1")
    await provider.launch(
        LaunchRequest(name, "team-a", "general", Shape(2000, 4 * 2**30), image, "")
    )


async def events(api: ApiClient) -> list[dict[str, Any]]:
    listing = await call_json(CoreV1Api(api).list_event_for_all_namespaces)
    return [e for e in listing.get("items") or [] if e.get("reason") == "DisruptionBlocked"]


async def test_a_pod_on_the_node_holds_the_deletion_with_events_then_it_proceeds(
    api: ApiClient,
) -> None:
    provider = RecordingProvider()
    await launched(provider, "vm-1")
    await add_node(api, "vm-1")
    await add_pod(api, "web-a", "vm-1")
    act = actuator(api, provider)
    context = PlanContext(tenant=None, pools={}, vm_pools={"vm-1": "general"})  # type: ignore[arg-type]
    step = DeleteVM("vm-1", Reason.EMPTY, node="vm-1", detail="node vm-1 is drained")

    [outcome] = await act.execute([step], context)
    assert outcome.held and "default/web-a" in (outcome.error or "")
    assert "delete" not in provider.operations()
    recorded = await events(api)
    assert {e["involvedObject"]["kind"] for e in recorded} == {"Node", "NodePool"}

    await call_json(CoreV1Api(api).delete_namespaced_pod, "web-a", "default")
    [outcome] = await act.execute([step], context)
    assert outcome.ok and provider.operations().count("delete") == 1


async def test_a_failed_live_read_deletes_nothing(server: FakeApiServer, api: ApiClient) -> None:
    provider = RecordingProvider()
    await launched(provider, "vm-1")
    await add_node(api, "vm-1")
    server.faults.fail(status=503, times=None, verb="list", resource="pods")
    act = actuator(api, provider)
    context = PlanContext(tenant=None, pools={}, vm_pools={"vm-1": "general"})  # type: ignore[arg-type]
    step = DeleteVM("vm-1", Reason.UNHEALTHY, node="vm-1", detail="NotReady for 31m")
    [outcome] = await act.execute([step], context)
    assert outcome.held and "could not be read" in (outcome.error or "")
    assert "delete" not in provider.operations()


async def test_a_vm_decided_on_as_unregistered_is_kept_once_its_node_shows_up(
    api: ApiClient,
) -> None:
    provider = RecordingProvider()
    await launched(provider, "vm-1")
    act = actuator(api, provider)
    context = PlanContext(tenant=None, pools={}, vm_pools={"vm-1": "general"})  # type: ignore[arg-type]
    step = DeleteVM("vm-1", Reason.LAUNCH_TIMEOUT, detail="deadline")
    await add_node(api, "vm-1")
    [outcome] = await act.execute([step], context)
    assert outcome.held and "registered after the decision" in (outcome.error or "")
    assert "delete" not in provider.operations()
    await call_json(CoreV1Api(api).delete_node, "vm-1")
    [outcome] = await act.execute([step], context)
    assert outcome.ok and "delete" in provider.operations()


async def test_a_repair_goes_ahead_past_terminating_pods_but_not_past_one_that_stays(
    api: ApiClient,
) -> None:
    # On a NotReady node the taint manager has deleted the pods that do not tolerate it; the
    # kubelet is gone, so they stay terminating until the Node goes. One pod tolerates the
    # node's taints without limit: it waits for the node and holds the repair.
    provider = RecordingProvider()
    await launched(provider, "vm-1")
    await add_node(api, "vm-1")
    core = CoreV1Api(api)
    evicted = {
        "metadata": {"name": "web-a", "namespace": "default", "finalizers": ["example.com/x"]},
        "spec": {"nodeName": "vm-1", "containers": [{"name": "c", "image": "i"}]},
    }
    await call_json(core.create_namespaced_pod, "default", evicted)
    await call_json(core.delete_namespaced_pod, "web-a", "default")
    await add_pod(api, "waits-for-node", "vm-1")
    act = actuator(api, provider)
    context = PlanContext(tenant=None, pools={}, vm_pools={"vm-1": "general"})  # type: ignore[arg-type]
    step = DeleteVM("vm-1", Reason.UNHEALTHY, node="vm-1", detail="NotReady for 31m")

    [outcome] = await act.execute([step], context)
    assert outcome.held and "default/waits-for-node" in (outcome.error or "")
    assert "default/web-a" not in (outcome.error or "")
    await call_json(core.delete_namespaced_pod, "waits-for-node", "default")
    [outcome] = await act.execute([step], context)
    assert outcome.ok and "delete" in provider.operations()
