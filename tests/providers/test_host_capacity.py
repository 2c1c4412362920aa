from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.providers.host_capacity import hosts_from, pod_requests

GIB = 2**30


def node(
    name: str,
    cpu: str = "64",
    memory: str = "256Gi",
    *,
    schedulable_label: str | None = "true",
    ready: str = "True",
    cordoned: bool = False,
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if schedulable_label is not None:
        labels["kubevirt.io/schedulable"] = schedulable_label
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": cordoned},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def container(cpu: str | None = None, memory: str | None = None, **extra: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": "c", "resources": {"requests": requests}, **extra}


def pod(
    node_name: str | None,
    containers: list[dict[str, Any]],
    *,
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
    overhead: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if node_name is not None:
        spec["nodeName"] = node_name
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    return {"metadata": {"namespace": "ns", "name": "p"}, "spec": spec, "status": {"phase": phase}}


def test_allocated_is_the_sum_of_requests_of_live_pods_on_the_host() -> None:
    listing = hosts_from(
        [node("metal-1"), node("metal-2")],
        [
            pod("metal-1", [container("4", "16Gi"), container("100m", "1Gi")]),
            pod("metal-1", [container("2", "8Gi")], phase="Pending"),
            pod("metal-1", [container("8", "8Gi")], phase="Succeeded"),
            pod("metal-1", [container("8", "8Gi")], phase="Failed"),
            pod("metal-3", [container("8", "8Gi")]),
            pod(None, [container("8", "8Gi")]),
        ],
    )
    assert listing.problems == []
    first, second = listing.hosts
    assert first.name == "metal-1"
    assert first.allocatable == Resources.of(cpu=64_000, memory=256 * GIB)
    assert first.allocated == Resources.of(cpu=6_100, memory=25 * GIB)
    assert second.allocated == Resources()
    assert first.free == Resources.of(cpu=57_900, memory=231 * GIB)


def test_only_nodes_that_can_run_vms_are_hosts() -> None:
    listing = hosts_from(
        [node("a"), node("b", schedulable_label=None), node("c", schedulable_label="false")], []
    )
    assert [h.name for h in listing.hosts] == ["a"]


def test_cordoned_or_unready_hosts_are_not_schedulable() -> None:
    listing = hosts_from([node("a"), node("b", cordoned=True), node("c", ready="Unknown")], [])
    assert [(h.name, h.schedulable) for h in listing.hosts] == [
        ("a", True),
        ("b", False),
        ("c", False),
    ]


def test_effective_requests_count_init_containers_sidecars_and_overhead() -> None:
    spec = pod(
        "a",
        [container("1", "1Gi")],
        init=[
            container("3", "512Mi"),
            container("500m", "256Mi", restartPolicy="Always"),
            container("1", "4Gi"),
        ],
        overhead={"cpu": "250m", "memory": "128Mi"},
    )
    # Running: 1 + 0.5 sidecar = 1.5 cpu, 1.25Gi; init peak: 3 cpu, then 1 + 0.5 cpu with 4.25Gi.
    assert pod_requests(spec) == Resources.of(cpu=3_250, memory=4 * GIB + 384 * 2**20)


def test_malformed_quantities_are_reported_and_skipped() -> None:
    listing = hosts_from(
        [node("a"), node("bad", memory="lots")],
        [pod("a", [container("2", "2Gi")]), pod("a", [container("two")])],
    )
    assert [h.name for h in listing.hosts] == ["a"]
    assert listing.hosts[0].allocated == Resources.of(cpu=2_000, memory=2 * GIB)
    assert len(listing.problems) == 2
    assert any("node bad" in p for p in listing.problems)
    assert any("pod ns/p" in p for p in listing.problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(
    spec=json_values,
    status=json_values,
    pod_spec=json_values,
    pod_status=json_values,
)
def test_garbage_never_crashes_the_listing(
    spec: Any, status: Any, pod_spec: Any, pod_status: Any
) -> None:
    nodes = [
        node("a"),
        {
            "metadata": {"name": "b", "labels": {"kubevirt.io/schedulable": "true"}},
            "spec": spec,
            "status": status,
        },
    ]
    on_a = {"nodeName": "a", "containers": pod_spec, "initContainers": pod_spec}
    pods = [{"spec": pod_spec, "status": pod_status}, {"spec": on_a}, pod_spec, None]
    listing = hosts_from(nodes, pods)
    assert "a" in [h.name for h in listing.hosts]
