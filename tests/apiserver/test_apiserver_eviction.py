"""PodDisruptionBudget status and the Eviction API, through the real client."""

from __future__ import annotations

import json

import pytest
from apiserver_helpers import pod_body
from kubernetes_asyncio import client

from testbed.apiserver import FakeApiServer
from testbed.apiserver.disruption import scaled

READY = {
    "phase": "Running",
    "conditions": [{"type": "Ready", "status": "True"}],
}


async def running_pods(core: client.CoreV1Api, count: int, labels: dict[str, str]) -> None:
    for index in range(count):
        await core.create_namespaced_pod("default", pod_body(f"web-{index}", labels))
        await core.patch_namespaced_pod_status(f"web-{index}", "default", {"status": READY})


async def pdb_status(
    policy: client.PolicyV1Api, name: str = "web"
) -> client.V1PodDisruptionBudgetStatus:
    return (await policy.read_namespaced_pod_disruption_budget(name, "default")).status


def evict(name: str) -> dict:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}}


@pytest.mark.parametrize(
    ("spec", "healthy", "allowed"),
    [
        ({"minAvailable": 2}, 3, 1),
        ({"minAvailable": "50%"}, 3, 1),  # ceil(1.5) = 2 must stay
        ({"maxUnavailable": 1}, 3, 1),
        ({"maxUnavailable": "50%"}, 3, 2),  # ceil(1.5) = 2 may go
        ({"minAvailable": 3}, 3, 0),
        ({"maxUnavailable": 0}, 3, 0),
    ],
)
async def test_disruptions_allowed_follows_the_spec(
    api: client.ApiClient, spec: dict, healthy: int, allowed: int
) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    await running_pods(core, healthy, {"app": "web"})
    await core.create_namespaced_pod("default", pod_body("other", {"app": "db"}))
    await policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec},
        },
    )
    status = await pdb_status(policy)
    assert status.current_healthy == healthy and status.expected_pods == healthy
    assert status.disruptions_allowed == allowed


async def test_eviction_is_refused_while_the_budget_is_exhausted(api: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    await running_pods(core, 2, {"app": "web"})
    await policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 2},
        },
    )
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod_eviction("web-0", "default", evict("web-0"))
    assert raised.value.status == 429
    status = json.loads(raised.value.body)
    assert status["reason"] == "TooManyRequests"
    assert "disruption budget" in status["message"]
    assert status["details"]["causes"][0]["message"] == (
        "The disruption budget web needs 2 healthy pods and has 2 currently"
    )
    await core.read_namespaced_pod("web-0", "default")  # still there

    await policy.patch_namespaced_pod_disruption_budget(
        "web", "default", {"spec": {"minAvailable": 1}}
    )
    assert (await pdb_status(policy)).disruptions_allowed == 1
    await core.create_namespaced_pod_eviction(
        "web-0", "default", evict("web-0"), _preload_content=False
    )
    with pytest.raises(client.ApiException) as raised:
        await core.read_namespaced_pod("web-0", "default")
    assert raised.value.status == 404
    after = await pdb_status(policy)
    assert after.current_healthy == 1 and after.disruptions_allowed == 0
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod_eviction("web-1", "default", evict("web-1"))
    assert raised.value.status == 429


async def test_pods_that_are_not_running_can_always_be_evicted(api: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    await core.create_namespaced_pod("default", pod_body("pending", {"app": "web"}))
    await policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "maxUnavailable": 0},
        },
    )
    await core.create_namespaced_pod_eviction(
        "pending", "default", evict("pending"), _preload_content=False
    )
    assert (await core.list_namespaced_pod("default")).items == []


async def test_budget_follows_readiness_and_relabelling(
    server: FakeApiServer, api: client.ApiClient
) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    await policy.create_namespaced_pod_disruption_budget(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, "minAvailable": 1},
        },
    )
    await running_pods(core, 2, {"app": "web"})
    assert (await pdb_status(policy)).disruptions_allowed == 1
    await core.patch_namespaced_pod_status(
        "web-0", "default", {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    )
    status = await pdb_status(policy)
    assert status.current_healthy == 1 and status.disruptions_allowed == 0
    await core.patch_namespaced_pod("web-1", "default", {"metadata": {"labels": {"app": "x"}}})
    status = await pdb_status(policy)
    assert status.expected_pods == 1 and status.current_healthy == 0


async def test_two_budgets_on_one_pod_are_an_error(api: client.ApiClient) -> None:
    core, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    await running_pods(core, 1, {"app": "web"})
    for name in ("a", "b"):
        await policy.create_namespaced_pod_disruption_budget(
            "default", {"metadata": {"name": name}, "spec": {"selector": {}, "maxUnavailable": 5}}
        )
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod_eviction("web-0", "default", evict("web-0"))
    assert raised.value.status == 500


async def test_invalid_budgets_are_rejected(api: client.ApiClient) -> None:
    policy = client.PolicyV1Api(api)
    with pytest.raises(client.ApiException) as raised:
        await policy.create_namespaced_pod_disruption_budget(
            "default",
            {"metadata": {"name": "x"}, "spec": {"minAvailable": 1, "maxUnavailable": "150%"}},
        )
    assert raised.value.status == 422
    fields = {c["field"] for c in json.loads(raised.value.body)["details"]["causes"]}
    assert fields == {"spec", "spec.maxUnavailable"}


async def test_binding_twice_conflicts(core: client.CoreV1Api) -> None:
    await core.create_namespaced_pod("default", pod_body("p"))
    binding = {"metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}}
    await core.create_namespaced_binding("default", binding, _preload_content=False)
    with pytest.raises(client.ApiException) as raised:
        await core.create_namespaced_pod_binding("p", "default", binding)
    assert raised.value.status == 409
    assert (await core.read_namespaced_pod("p", "default")).spec.node_name == "n1"


def test_percentages_round_up() -> None:
    assert scaled("34%", 3, "x") == 2
    assert scaled(2, 10, "x") == 2
    with pytest.raises(ValueError, match="percentage"):
        scaled("half", 3, "x")
