"""kube-scheduler's filter predicates on one node."""

from __future__ import annotations

import pytest

from autoscaler.api.resources import Resources
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    Node,
    NodeSelectorTerm,
    Pod,
    PodAffinityTerm,
    Requirement,
    Taint,
    TaintEffect,
    Toleration,
)
from autoscaler.core.predicates import (
    AFFINITY_MISMATCH,
    ANTI_AFFINITY_MISMATCH,
    EXISTING_ANTI_AFFINITY,
    PORTS_IN_USE,
    SELECTOR_MISMATCH,
    TOO_MANY_PODS,
    UNSCHEDULABLE,
    NodeState,
    label_selector_matches,
    requirement_matches,
    selector_mismatch,
    taint_mismatch,
)

GI = 2**30


def pod(name: str = "p", **kwargs: object) -> Pod:
    return Pod(namespace=kwargs.pop("namespace", "default"), name=name, **kwargs)  # type: ignore[arg-type]


def node_state(
    cpu: int = 4000, memory: int = 8 * GI, pods: int = 110, **kwargs: object
) -> NodeState:
    node = Node(name="n1", allocatable=Resources.of(cpu, memory, pods), **kwargs)  # type: ignore[arg-type]
    return NodeState.from_node(node, [])


def affinity(*terms: NodeSelectorTerm) -> Pod:
    return pod(required_node_affinity=terms)


def expr(key: str, op: str, *values: str) -> NodeSelectorTerm:
    return NodeSelectorTerm(match_expressions=(Requirement(key, op, values),))


# node selector and node affinity ------------------------------------------------------------
def test_node_selector_needs_every_label() -> None:
    p = pod(node_selector={"disk": "ssd", "zone": "a"})
    assert selector_mismatch(p, {"disk": "ssd", "zone": "a", "x": "y"}) is None
    assert selector_mismatch(p, {"disk": "ssd"}) == SELECTOR_MISMATCH
    assert selector_mismatch(p, {"disk": "hdd", "zone": "a"}) == SELECTOR_MISMATCH


@pytest.mark.parametrize(
    ("op", "values", "labels", "expected"),
    [
        ("In", ("a", "b"), {"k": "b"}, True),
        ("In", ("a",), {"k": "c"}, False),
        ("In", ("a",), {}, False),
        ("NotIn", ("a",), {"k": "b"}, True),
        ("NotIn", ("a",), {"k": "a"}, False),
        ("NotIn", ("a",), {}, True),
        ("Exists", (), {"k": ""}, True),
        ("Exists", (), {}, False),
        ("DoesNotExist", (), {}, True),
        ("DoesNotExist", (), {"k": "x"}, False),
        ("Gt", ("5",), {"k": "6"}, True),
        ("Gt", ("5",), {"k": "5"}, False),
        ("Gt", ("5",), {"k": "six"}, False),
        ("Gt", ("5",), {}, False),
        ("Gt", ("x",), {"k": "6"}, False),
        ("Gt", ("1", "2"), {"k": "6"}, False),
        ("Lt", ("5",), {"k": "4"}, True),
        ("Lt", ("5",), {"k": "5"}, False),
        ("Near", ("a",), {"k": "a"}, False),
    ],
)
def test_requirement_operators(
    op: str, values: tuple[str, ...], labels: dict[str, str], expected: bool
) -> None:
    assert requirement_matches(Requirement("k", op, values), labels) is expected
    reason = selector_mismatch(affinity(expr("k", op, *values)), labels)
    assert (reason is None) is expected


def test_affinity_terms_are_ored_and_expressions_anded() -> None:
    both = NodeSelectorTerm(
        match_expressions=(Requirement("a", "In", ("1",)), Requirement("b", "Exists"))
    )
    p = affinity(both, expr("c", "In", "3"))
    assert selector_mismatch(p, {"a": "1", "b": "x"}) is None
    assert selector_mismatch(p, {"c": "3"}) is None
    assert selector_mismatch(p, {"a": "1"}) == AFFINITY_MISMATCH


def test_empty_affinity_term_matches_no_node() -> None:
    assert selector_mismatch(affinity(NodeSelectorTerm()), {"a": "1"}) == AFFINITY_MISMATCH


def test_match_fields_on_node_name() -> None:
    only_n1 = affinity(
        NodeSelectorTerm(match_fields=(Requirement("metadata.name", "In", ("n1",)),))
    )
    not_n1 = affinity(
        NodeSelectorTerm(match_fields=(Requirement("metadata.name", "NotIn", ("n1",)),))
    )
    assert selector_mismatch(only_n1, {}, "n1") is None
    assert selector_mismatch(only_n1, {}, "n2") == AFFINITY_MISMATCH
    assert selector_mismatch(only_n1, {}, None) == AFFINITY_MISMATCH  # a node not created yet
    assert selector_mismatch(not_n1, {}, "n1") == AFFINITY_MISMATCH
    assert selector_mismatch(not_n1, {}, None) is None
    other_field = affinity(
        NodeSelectorTerm(match_fields=(Requirement("metadata.uid", "In", ("n1",)),))
    )
    assert selector_mismatch(other_field, {}, "n1") == AFFINITY_MISMATCH


def test_label_selector() -> None:
    selector = LabelSelector(
        match_labels=(("app", "web"),), match_expressions=(Requirement("tier", "NotIn", ("db",)),)
    )
    assert label_selector_matches(selector, {"app": "web"})
    assert not label_selector_matches(selector, {"app": "web", "tier": "db"})
    assert not label_selector_matches(selector, {"app": "api"})
    assert label_selector_matches(LabelSelector(), {"anything": "x"})


# taints ----------------------------------------------------------------------------------------
GPU = Taint("gpu", TaintEffect.NO_SCHEDULE, "true")


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        (Toleration("gpu", "Equal", "true", TaintEffect.NO_SCHEDULE), True),
        (Toleration("gpu", "Equal", "false", TaintEffect.NO_SCHEDULE), False),
        (Toleration("gpu", "Equal", "true", None), True),
        (Toleration("gpu", "Equal", "true", TaintEffect.NO_EXECUTE), False),
        (Toleration("gpu", "Exists"), True),
        (Toleration("other", "Exists"), False),
        (Toleration("", "Exists"), True),
        (Toleration("", "Exists", effect=TaintEffect.NO_EXECUTE), False),
        (Toleration("gpu", "Bogus", "true"), False),
    ],
)
def test_tolerations(toleration: Toleration, tolerated: bool) -> None:
    reason = taint_mismatch(pod(tolerations=(toleration,)), [GPU])
    assert (reason is None) is tolerated
    if not tolerated:
        assert reason == "node(s) had untolerated taint {gpu: true}"


def test_prefer_no_schedule_is_ignored_and_no_execute_is_not() -> None:
    soft = Taint("soft", TaintEffect.PREFER_NO_SCHEDULE)
    hard = Taint("hard", TaintEffect.NO_EXECUTE)
    assert taint_mismatch(pod(), [soft]) is None
    assert taint_mismatch(pod(), [soft, hard]) == "node(s) had untolerated taint {hard: }"


# NodeState -----------------------------------------------------------------------------------
def test_cordoned_node_fits_nothing() -> None:
    state = node_state(unschedulable=True)
    assert state.fit_failure(pod()) == UNSCHEDULABLE


def test_node_state_applies_selectors_and_taints() -> None:
    state = node_state(labels={"pool": "a"}, taints=(GPU,))
    assert state.fit_failure(pod(node_selector={"pool": "b"})) == SELECTOR_MISMATCH
    assert state.fit_failure(pod(node_selector={"pool": "a"})) is not None  # the taint
    tolerant = pod(node_selector={"pool": "a"}, tolerations=(Toleration("gpu", "Exists"),))
    assert state.fit_failure(tolerant) is None


def test_resources_cpu_memory_and_extended() -> None:
    state = node_state(cpu=1000, memory=GI)
    assert state.fit_failure(pod(requests=Resources.of(cpu=1000, memory=GI))) is None
    assert state.fit_failure(pod(requests=Resources.of(cpu=1001))) == "Insufficient cpu"
    assert state.fit_failure(pod(requests=Resources.of(memory=GI + 1))) == "Insufficient memory"
    both = pod(requests=Resources.of(cpu=2000, memory=2 * GI))
    assert state.fit_failure(both) == "Insufficient cpu, Insufficient memory"
    gpu = pod(requests=Resources({"nvidia.com/gpu": 1}))
    assert state.fit_failure(gpu) == "Insufficient nvidia.com/gpu"


def test_used_accumulates_and_remove_gives_back() -> None:
    state = node_state(cpu=1000, memory=GI)
    first = pod("a", requests=Resources.of(cpu=600))
    state.add(first)
    assert state.used == Resources.of(cpu=600, pods=1)
    assert state.fit_failure(pod("b", requests=Resources.of(cpu=600))) == "Insufficient cpu"
    state.remove(first)
    assert state.used == Resources()
    assert state.pods == []
    state.remove(first)  # unknown pods are ignored
    assert state.fit_failure(pod("b", requests=Resources.of(cpu=600))) is None


def test_pod_count_is_a_resource() -> None:
    state = node_state(pods=2)
    state.add(pod("a"))
    state.add(pod("b"))
    assert state.fit_failure(pod("c")) == TOO_MANY_PODS


def test_node_without_pod_capacity_takes_no_pod() -> None:
    state = NodeState("n", Resources.of(cpu=1000))
    assert state.fit_failure(pod()) == TOO_MANY_PODS


def test_overcommitted_node_still_takes_pods_that_request_nothing_of_it() -> None:
    state = node_state(cpu=1000)
    state.add(pod("hog", requests=Resources.of(cpu=2000)))
    assert state.fit_failure(pod("m", requests=Resources.of(memory=GI))) is None
    assert state.fit_failure(pod("c", requests=Resources.of(cpu=1))) == "Insufficient cpu"


@pytest.mark.parametrize(
    ("taken", "wanted", "clash"),
    [
        (HostPort(80), HostPort(80), True),
        (HostPort(80), HostPort(81), False),
        (HostPort(80), HostPort(80, "UDP"), False),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80, host_ip="10.0.0.2"), False),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80, host_ip="10.0.0.1"), True),
        (HostPort(80, host_ip="10.0.0.1"), HostPort(80), True),
        (HostPort(80), HostPort(80, host_ip="10.0.0.1"), True),
    ],
)
def test_host_ports(taken: HostPort, wanted: HostPort, clash: bool) -> None:
    state = node_state()
    state.add(pod("a", host_ports=(taken,)))
    reason = state.fit_failure(pod("b", host_ports=(wanted,)))
    assert reason == (PORTS_IN_USE if clash else None)
    state.remove(pod("a"))
    assert state.fit_failure(pod("b", host_ports=(wanted,))) is None


def _anti(
    app: str, topology: str = HOSTNAME_LABEL, namespaces: tuple[str, ...] = ()
) -> tuple[PodAffinityTerm, ...]:
    selector = LabelSelector(match_labels=(("app", app),))
    return (PodAffinityTerm(selector, topology, namespaces),)


def test_incoming_anti_affinity_against_pods_on_the_node() -> None:
    state = node_state()
    state.add(pod("db-0", labels={"app": "db"}))
    incoming = pod("web", labels={"app": "web"}, required_anti_affinity=_anti("db"))
    assert state.fit_failure(incoming) == ANTI_AFFINITY_MISMATCH
    assert state.fit_failure(pod("w2", required_anti_affinity=_anti("cache"))) is None


def test_existing_pods_anti_affinity_against_the_incoming_pod() -> None:
    state = node_state()
    state.add(pod("db-0", labels={"app": "db"}, required_anti_affinity=_anti("web")))
    assert state.fit_failure(pod("web", labels={"app": "web"})) == EXISTING_ANTI_AFFINITY
    assert state.fit_failure(pod("api", labels={"app": "api"})) is None
    state.remove(pod("db-0"))
    assert state.fit_failure(pod("web", labels={"app": "web"})) is None


def test_anti_affinity_namespaces_default_to_the_pods_own() -> None:
    state = node_state()
    state.add(pod("db-0", namespace="other", labels={"app": "db"}))
    assert state.fit_failure(pod("web", required_anti_affinity=_anti("db"))) is None
    listed = pod("web", required_anti_affinity=_anti("db", namespaces=("other",)))
    assert state.fit_failure(listed) == ANTI_AFFINITY_MISMATCH


def test_anti_affinity_on_other_topology_keys_is_not_evaluated() -> None:
    state = node_state()
    state.add(pod("db-0", labels={"app": "db"}))
    zonal = pod("web", required_anti_affinity=_anti("db", topology="topology.kubernetes.io/zone"))
    assert state.fit_failure(zonal) is None


def test_self_anti_affinity_spreads_replicas() -> None:
    state = node_state()
    replica = {"labels": {"app": "web"}, "required_anti_affinity": _anti("web")}
    assert state.fit_failure(pod("web-1", **replica)) is None
    state.add(pod("web-1", **replica))
    assert state.fit_failure(pod("web-2", **replica)) == ANTI_AFFINITY_MISMATCH


def test_add_equivalent_matches_adding_one_by_one() -> None:
    requests = Resources.of(cpu=300, memory=GI)
    pods = [pod(f"p{i}", requests=requests) for i in range(3)]
    bulk, single = node_state(), node_state()
    bulk.add_equivalent(pods, requests)
    for p in pods:
        single.add(p)
    assert bulk.used == single.used == Resources.of(cpu=900, memory=3 * GI, pods=3)
    assert bulk.free == single.free
    assert [p.key for p in bulk.pods] == [p.key for p in single.pods]
