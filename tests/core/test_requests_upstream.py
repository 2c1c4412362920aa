"""What a pod asks of a node and whether it fits, as kube-scheduler computes it; the cases are
upstream's.

- ``staging/src/k8s.io/component-helpers/resource/helpers_test.go`` (kubernetes v1.34):
  TestPodResourceRequests (with ``UseStatusResources``, as the scheduler sets it for bound
  pods) and TestPodLevelResourceRequests
- ``pkg/scheduler/framework/plugins/noderesources/fit_test.go``: TestEnoughRequests and
  TestNotEnoughRequests (the cases with ``IgnoredResources``/``IgnoredResourceGroups``, a
  scheduler-profile setting the autoscaler cannot see, are not modelled)

Pods are written as the API server returns them and go through the real converter.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.api.resources import Resources
from autoscaler.core.predicates import TOO_MANY_PODS, NodeState
from autoscaler.kube.convert import pod_from_dict

A, B = "example.com/aaa", "example.com/bbb"
K8S_A, K8S_B = "kubernetes.io/something", "subdomain.kubernetes.io/something"
HUGE = "hugepages-2Mi"


def container(requests: dict[str, str], name: str = "", sidecar: bool = False) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "resources": {"requests": requests}}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


def make_pod(
    containers: list[dict[str, Any]] = (),  # type: ignore[assignment]
    init: list[dict[str, Any]] = (),  # type: ignore[assignment]
    overhead: dict[str, str] | None = None,
    pod_level: dict[str, Any] | None = None,
    node_name: str | None = None,
    status: dict[str, Any] | None = None,
) -> Any:
    spec: dict[str, Any] = {"containers": list(containers), "initContainers": list(init)}
    if overhead:
        spec["overhead"] = overhead
    if pod_level is not None:
        spec["resources"] = pod_level
    if node_name:
        spec["nodeName"] = node_name
    obj = {"metadata": {"name": "p", "namespace": "default"}, "spec": spec, "status": status or {}}
    pod = pod_from_dict(obj)
    assert pod.unmodelled == ()
    return pod


def cpu(value: str) -> dict[str, str]:
    return {"cpu": value}


# TestPodResourceRequests, without status ------------------------------------------------
@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        ("larger init container", Resources.of(cpu=4000)),
        ("larger containers", Resources.of(cpu=5000)),
        ("pod overhead included", Resources.of(cpu=6000, memory=2**30)),
        ("restartable init container", Resources.of(cpu=2000)),
        ("multiple restartable init containers", Resources.of(cpu=7000)),
        ("multiple restartable and regular init containers", Resources.of(cpu=8000)),
        ("restartable-init, init and regular", Resources.of(cpu=210000)),
    ],
)
def test_pod_requests(pod: str, expected: Resources) -> None:
    pods = {
        "larger init container": make_pod([container(cpu("1"))], [container(cpu("4"))]),
        "larger containers": make_pod(
            [container(cpu("2")), container(cpu("3"))], [container(cpu("2"))]
        ),
        "pod overhead included": make_pod(
            [container(cpu("2")), container(cpu("3"))],
            [container(cpu("2"))],
            overhead={"cpu": "1", "memory": "1Gi"},
        ),
        "restartable init container": make_pod(
            [container(cpu("1"))], [container(cpu("1"), sidecar=True)]
        ),
        "multiple restartable init containers": make_pod(
            [container(cpu("1"))],
            [
                container(cpu("5")),
                container(cpu("1"), sidecar=True),
                container(cpu("2"), sidecar=True),
                container(cpu("3"), sidecar=True),
            ],
        ),
        "multiple restartable and regular init containers": make_pod(
            [container(cpu("1"))],
            [
                container(cpu("5")),
                container(cpu("1"), sidecar=True),
                container(cpu("2"), sidecar=True),
                container(cpu("5")),
                container(cpu("3"), sidecar=True),
            ],
        ),
        "restartable-init, init and regular": make_pod(
            [container(cpu("100"))],
            [container(cpu("10"), sidecar=True), container(cpu("200"))],
        ),
    }
    assert pods[pod].requests == expected


# TestPodResourceRequests, resized pods (UseStatusResources) -------------------------------
def resized(
    spec_cpu: str,
    status_requests: dict[str, str] | None,
    allocated: dict[str, str] | None = None,
    infeasible: bool = False,
    sidecar: bool = False,
) -> Any:
    status_entry: dict[str, Any] = {"name": "c1"}
    if status_requests is not None:
        status_entry["resources"] = {"requests": status_requests}
    if allocated is not None:
        status_entry["allocatedResources"] = allocated
    conditions = (
        [{"type": "PodResizePending", "status": "True", "reason": "Infeasible"}]
        if infeasible
        else []
    )
    key = "initContainerStatuses" if sidecar else "containerStatuses"
    spec_container = container(cpu(spec_cpu), name="c1", sidecar=sidecar)
    return make_pod(
        [] if sidecar else [spec_container],
        [spec_container] if sidecar else [],
        node_name="n1",
        status={"phase": "Running", "conditions": conditions, key: [status_entry]},
    )


@pytest.mark.parametrize(
    ("pod", "expected_cpu"),
    [
        (lambda: resized("4", cpu("2"), infeasible=True), 2000),
        (lambda: resized("6", cpu("2"), allocated=cpu("4"), infeasible=True), 4000),
        (lambda: resized("4", cpu("2")), 4000),
        (lambda: resized("4", cpu("2"), infeasible=True, sidecar=True), 2000),
        (lambda: resized("4", cpu("2"), sidecar=True), 4000),
    ],
    ids=[
        "resized, infeasible",
        "resized, infeasible & in-progress",
        "resized, no resize status",
        "resized, restartable init container, infeasible",
        "resized, restartable init container, no resize status",
    ],
)
def test_resized_pod_requests(pod: Any, expected_cpu: int) -> None:
    assert pod().requests.cpu == expected_cpu


def test_resized_per_resource_three_way_maximum() -> None:
    pod = make_pod(
        [container({"cpu": "30m", "memory": "20M", "ephemeral-storage": "10G"}, name="c1")],
        node_name="n1",
        status={
            "containerStatuses": [
                {
                    "name": "c1",
                    "allocatedResources": {
                        "cpu": "20m",
                        "memory": "10M",
                        "ephemeral-storage": "30G",
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "30M", "ephemeral-storage": "20G"}
                    },
                }
            ]
        },
    )
    assert pod.requests == Resources(
        {"cpu": 30, "memory": 30 * 10**6, "ephemeral-storage": 30 * 10**9}
    )


def test_a_pending_pod_is_counted_by_its_spec_alone() -> None:
    """The scheduler reads a pod's status resources only once it runs somewhere."""
    status = {"containerStatuses": [{"name": "c1", "resources": {"requests": cpu("8")}}]}
    assert make_pod([container(cpu("1"), name="c1")], status=status).requests.cpu == 1000


# TestPodLevelResourceRequests ------------------------------------------------------------
MI = 2**20


@pytest.mark.parametrize(
    ("pod", "expected"),
    [
        (lambda: make_pod(pod_level={}), Resources()),
        (lambda: make_pod(pod_level={"requests": {"memory": "2Mi"}}), Resources.of(memory=2 * MI)),
        (
            lambda: make_pod([container({"cpu": "2m"})], pod_level={"requests": {"memory": "2Mi"}}),
            Resources.of(cpu=2, memory=2 * MI),
        ),
        (
            lambda: make_pod(
                [container({"storage": "1Mi"})], pod_level={"requests": {"storage": "2Mi"}}
            ),
            Resources(),  # "storage" is not a resource the scheduler counts
        ),
        (
            lambda: make_pod([container({"memory": "3Mi", "cpu": "2m"})], pod_level={}),
            Resources.of(cpu=2, memory=3 * MI),
        ),
        (
            lambda: make_pod(
                [container({"memory": "3Mi", "cpu": "2m"})],
                pod_level={"requests": {"memory": "6Mi", "cpu": "8m"}},
            ),
            Resources.of(cpu=8, memory=6 * MI),
        ),
        (
            lambda: make_pod(
                [container({"memory": "3Mi", "cpu": "2m"})],
                [container({"memory": "5Mi", "cpu": "4m"})],
            ),
            Resources.of(cpu=4, memory=5 * MI),
        ),
        (
            lambda: make_pod(
                [container({"memory": "3Mi", "cpu": "2m"})],
                [container({"memory": "5Mi", "cpu": "4m"}, sidecar=True)],
            ),
            Resources.of(cpu=6, memory=8 * MI),
        ),
        (
            lambda: make_pod(
                [container({"memory": "3Mi", "cpu": "2m"})],
                [
                    container({"memory": "5Mi", "cpu": "4m"}, sidecar=True),
                    container({"memory": "6Mi", "cpu": "8m"}),
                ],
            ),
            Resources.of(cpu=12, memory=11 * MI),
        ),
        (
            lambda: make_pod(
                [container({"memory": "3Mi", "cpu": "2m"})],
                [
                    container({"memory": "5Mi", "cpu": "4m"}, sidecar=True),
                    container({"memory": "6Mi", "cpu": "8m"}),
                ],
                pod_level={"requests": {"memory": "15Mi", "cpu": "18m"}},
            ),
            Resources.of(cpu=18, memory=15 * MI),
        ),
        (
            lambda: make_pod(pod_level={"requests": {HUGE: "2Mi", "memory": "10Mi"}}),
            Resources({HUGE: 2 * MI, "memory": 10 * MI}),
        ),
        (
            lambda: make_pod(
                [container({HUGE: "6Mi"})],
                pod_level={"requests": {HUGE: "10Mi", "cpu": "1"}},
            ),
            Resources({HUGE: 10 * MI, "cpu": 1000}),
        ),
    ],
    ids=[
        "nil",
        "pod level memory",
        "pod level memory and container level cpu",
        "unsupported resources at both levels",
        "only container level",
        "both levels",
        "container-level and init container",
        "container-level and sidecar",
        "container-level, init and sidecar",
        "pod-level, container-level, init and sidecar",
        "pod-level hugepages",
        "pod-level and container-level hugepages",
    ],
)
def test_pod_level_requests(pod: Any, expected: Resources) -> None:
    assert pod().requests == expected


# TestEnoughRequests / TestNotEnoughRequests ------------------------------------------------
ALLOCATABLE = Resources(
    {"cpu": 10, "memory": 20, "pods": 32, A: 5, "ephemeral-storage": 20, HUGE: 5}
)


def usage(cpu_m: int = 0, memory: int = 0, **scalars: int) -> dict[str, str]:
    names = {"a": A, "b": B, "k8s_a": K8S_A, "k8s_b": K8S_B, "huge": HUGE}
    requests = {"cpu": f"{cpu_m}m", "memory": str(memory)}
    requests.update({names[k]: str(v) for k, v in scalars.items()})
    return requests


def on_node(*usages: dict[str, str]) -> NodeState:
    existing = make_pod([container(u) for u in usages], node_name="n1")
    return NodeState("n1", ALLOCATABLE, pods=[existing], node_name="n1")


def pod_of(
    *usages: dict[str, str],
    init: tuple[dict[str, str], ...] = (),
    overhead: dict[str, str] | None = None,
    pod_level: dict[str, str] | None = None,
) -> Any:
    return make_pod(
        [container(u) for u in usages],
        [container(u) for u in init],
        overhead=overhead,
        pod_level={"requests": pod_level} if pod_level is not None else None,
    )


FIT_CASES: list[tuple[str, Any, NodeState, set[str]]] = [
    ("no resources requested always fits", make_pod(), on_node(usage(10, 20)), set()),
    ("too many resources fails", pod_of(usage(1, 1)), on_node(usage(10, 20)), {"cpu", "memory"}),
    (
        "too many resources fails due to init container cpu",
        pod_of(usage(1, 1), init=(usage(3, 1),)),
        on_node(usage(8, 19)),
        {"cpu"},
    ),
    (
        "too many resources fails due to highest init container cpu",
        pod_of(usage(1, 1), init=(usage(3, 1), usage(2, 1))),
        on_node(usage(8, 19)),
        {"cpu"},
    ),
    (
        "too many resources fails due to init container memory",
        pod_of(usage(1, 1), init=(usage(1, 3),)),
        on_node(usage(9, 19)),
        {"memory"},
    ),
    (
        "too many resources fails due to highest init container memory",
        pod_of(usage(1, 1), init=(usage(1, 3), usage(1, 2))),
        on_node(usage(9, 19)),
        {"memory"},
    ),
    (
        "init container fits because it's the max, not sum",
        pod_of(usage(1, 1), init=(usage(1, 1),)),
        on_node(usage(9, 19)),
        set(),
    ),
    (
        "multiple init containers fit because it's the max, not sum",
        pod_of(usage(1, 1), init=(usage(1, 1), usage(1, 1))),
        on_node(usage(9, 19)),
        set(),
    ),
    ("both resources fit", pod_of(usage(1, 1)), on_node(usage(5, 5)), set()),
    ("one resource memory fits", pod_of(usage(2, 1)), on_node(usage(9, 5)), {"cpu"}),
    ("one resource cpu fits", pod_of(usage(1, 2)), on_node(usage(5, 19)), {"memory"}),
    ("equal edge case", pod_of(usage(5, 1)), on_node(usage(5, 19)), set()),
    (
        "equal edge case for init container",
        pod_of(usage(4, 1), init=(usage(5, 1),)),
        on_node(usage(5, 19)),
        set(),
    ),
    ("extended resource fits", pod_of(usage(a=1)), on_node(usage()), set()),
    (
        "extended resource fits for init container",
        pod_of(usage(), init=(usage(a=1),)),
        on_node(usage()),
        set(),
    ),
    (
        "extended resource capacity enforced",
        pod_of(usage(1, 1, a=10)),
        on_node(usage(0, 0, a=0)),
        {A},
    ),
    (
        "extended resource capacity enforced for init container",
        pod_of(usage(), init=(usage(1, 1, a=10),)),
        on_node(usage(0, 0, a=0)),
        {A},
    ),
    (
        "extended resource allocatable enforced",
        pod_of(usage(1, 1, a=1)),
        on_node(usage(0, 0, a=5)),
        {A},
    ),
    (
        "extended resource allocatable enforced for init container",
        pod_of(usage(), init=(usage(1, 1, a=1),)),
        on_node(usage(0, 0, a=5)),
        {A},
    ),
    (
        "extended resource allocatable enforced for multiple containers",
        pod_of(usage(1, 1, a=3), usage(1, 1, a=3)),
        on_node(usage(0, 0, a=2)),
        {A},
    ),
    (
        "extended resource allocatable admits multiple init containers",
        pod_of(usage(), init=(usage(1, 1, a=3), usage(1, 1, a=3))),
        on_node(usage(0, 0, a=2)),
        set(),
    ),
    (
        "extended resource allocatable enforced for multiple init containers",
        pod_of(usage(), init=(usage(1, 1, a=6), usage(1, 1, a=3))),
        on_node(usage(0, 0, a=2)),
        {A},
    ),
    (
        "extended resource allocatable enforced for unknown resource",
        pod_of(usage(1, 1, b=1)),
        on_node(usage()),
        {B},
    ),
    (
        "extended resource allocatable enforced for unknown resource for init container",
        pod_of(usage(), init=(usage(1, 1, b=1),)),
        on_node(usage()),
        {B},
    ),
    (
        "kubernetes.io resource capacity enforced",
        pod_of(usage(1, 1, k8s_a=10)),
        on_node(usage()),
        {K8S_A},
    ),
    (
        "kubernetes.io resource capacity enforced for init container",
        pod_of(usage(), init=(usage(1, 1, k8s_b=10),)),
        on_node(usage()),
        {K8S_B},
    ),
    (
        "hugepages resource capacity enforced",
        pod_of(usage(1, 1, huge=10)),
        on_node(usage(0, 0, huge=0)),
        {HUGE},
    ),
    (
        "hugepages resource capacity enforced for init container",
        pod_of(usage(), init=(usage(1, 1, huge=10),)),
        on_node(usage(0, 0, huge=0)),
        {HUGE},
    ),
    (
        "hugepages resource allocatable enforced for multiple containers",
        pod_of(usage(1, 1, huge=3), usage(1, 1, huge=3)),
        on_node(usage(0, 0, huge=2)),
        {HUGE},
    ),
    (
        "resources + pod overhead fits",
        pod_of(usage(1, 1), overhead={"cpu": "3m", "memory": "13"}),
        on_node(usage(5, 5)),
        set(),
    ),
    (
        "requests + overhead does not fit for memory",
        pod_of(usage(1, 1), overhead={"cpu": "1m", "memory": "15"}),
        on_node(usage(5, 5)),
        {"memory"},
    ),
    (
        "skip checking extended resource request with quantity zero",
        pod_of(usage(1, 1, a=0)),
        on_node(usage(0, 0, a=6)),
        set(),
    ),
    (
        "skip checking resource request with quantity zero",
        pod_of(usage(a=1)),
        on_node(usage(20, 30, a=1)),
        set(),
    ),
    (
        "both pod-level and container-level resources fit",
        pod_of(usage(1, 1), pod_level={"cpu": "1m", "memory": "2"}),
        on_node(usage(5, 5)),
        set(),
    ),
    (
        "pod-level cpu resource not fit",
        pod_of(usage(1, 1), pod_level={"cpu": "7m", "memory": "2"}),
        on_node(usage(5, 5)),
        {"cpu"},
    ),
    (
        "pod-level memory resource not fit",
        pod_of(usage(1, 1), pod_level={"cpu": "3m", "memory": "2"}),
        on_node(usage(5, 19)),
        {"memory"},
    ),
    (
        "pod-level hugepages resource fit",
        pod_of(pod_level={"cpu": "3m", "memory": "2", HUGE: "5"}),
        NodeState("n1", ALLOCATABLE, node_name="n1"),
        set(),
    ),
    (
        "both pod-level and container-level hugepages resource fit",
        pod_of(usage(1, 1, huge=3), pod_level={"cpu": "3m", "memory": "2", HUGE: "5"}),
        NodeState("n1", ALLOCATABLE, node_name="n1"),
        set(),
    ),
    (
        "pod-level hugepages resource not fit",
        pod_of(pod_level={"cpu": "3m", "memory": "2", HUGE: "10"}),
        NodeState("n1", ALLOCATABLE, node_name="n1"),
        {HUGE},
    ),
    (
        "one pod-level cpu resource fits and all init and non-init containers resources fit",
        pod_of(usage(1, 1), init=(usage(1, 1),), pod_level={"cpu": "3m", "memory": "2"}),
        on_node(usage(5, 19)),
        {"memory"},
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "short"), [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES]
)
def test_node_resources_fit(pod: Any, node: NodeState, short: set[str]) -> None:
    """fit_test.go TestEnoughRequests."""
    reason = node.dynamic_failure(pod)
    if not short:
        assert reason is None
    else:
        assert reason is not None
        assert set(reason.split(", ")) == {f"Insufficient {name}" for name in short}


NO_ROOM = Resources({"cpu": 10, "memory": 20, "pods": 1})


@pytest.mark.parametrize(
    ("pod", "existing"),
    [
        (make_pod(), usage(10, 20)),
        (pod_of(usage(1, 1)), usage(5, 5)),
        (pod_of(usage(5, 1)), usage(5, 19)),
        (pod_of(usage(5, 1), init=(usage(5, 1),)), usage(5, 19)),
    ],
    ids=[
        "even without specified resources",
        "even if both resources fit",
        "even for equal edge case",
        "even for equal edge case due to init container",
    ],
)
def test_too_many_pods(pod: Any, existing: dict[str, str]) -> None:
    """fit_test.go TestNotEnoughRequests: allocatable pods=1 and one pod on the node."""
    node = NodeState("n1", NO_ROOM, pods=[make_pod([container(existing)], node_name="n1")])
    assert node.dynamic_failure(pod) == TOO_MANY_PODS


@pytest.mark.parametrize(
    ("pod", "existing", "fits"),
    [
        (pod_of(usage(1, 1)), {**usage(2, 10)}, True),
        (pod_of({"ephemeral-storage": "25"}), usage(2, 2), False),
        (pod_of({"ephemeral-storage": "5"}), {**usage(2, 2), "ephemeral-storage": "10"}, True),
        (pod_of({"ephemeral-storage": "10"}), usage(2, 2), True),
    ],
    ids=[
        "empty storage requested, and pod fits",
        "ephemeral local storage request exceeds allocatable",
        "ephemeral local storage is sufficient",
        "pod fits",
    ],
)
def test_storage_requests(pod: Any, existing: dict[str, str], fits: bool) -> None:
    """fit_test.go TestStorageRequests."""
    node = NodeState("n1", ALLOCATABLE, pods=[make_pod([container(existing)], node_name="n1")])
    reason = node.dynamic_failure(pod)
    assert reason == (None if fits else "Insufficient ephemeral-storage")


@pytest.mark.parametrize(
    ("app", "sidecar", "reason"),
    [
        ({}, {}, None),
        ({"cpu": "1m"}, {"cpu": "1m"}, None),
        ({"cpu": "1m"}, {"cpu": "2m"}, "Insufficient cpu"),
    ],
    ids=[
        "restartable init containers without requests",
        "total requests within allocatable",
        "total requests exceed allocatable",
    ],
)
def test_restartable_init_containers(
    app: dict[str, str], sidecar: dict[str, str], reason: str | None
) -> None:
    """fit_test.go TestRestartableInitContainers (sidecars enabled, as in every 1.29+)."""
    pod = make_pod([container(app, "regular")], [container(sidecar, "restartable-init", True)])
    node = NodeState("n1", Resources({"cpu": 2, "pods": 1}))
    assert node.dynamic_failure(pod) == reason
