"""One scheduling pass, the unschedulable message and the failure injection, without I/O."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import CPU, MEMORY, PODS, Resources
from autoscaler.core.model import Node, Pod, Taint, TaintEffect
from testbed.agents.decisions import decide
from testbed.agents.failures import FailureInjection, draw
from testbed.agents.reasons import NO_NODES, unschedulable_message

GI = 2**30


def node(
    name: str,
    cpu: int = 4000,
    ready: bool = True,
    deleting: bool = False,
    taints: tuple[Taint, ...] = (),
) -> Node:
    allocatable = Resources({CPU: cpu, MEMORY: 8 * GI, PODS: 110})
    return Node(name, allocatable, ready=ready, deleting=deleting, taints=taints)


def pod(name: str, cpu: int = 1000, node_name: str | None = None) -> Pod:
    return Pod("default", name, requests=Resources({CPU: cpu, MEMORY: GI}), node_name=node_name)


def test_pods_go_to_the_most_requested_node_that_fits() -> None:
    busy = pod("busy", 2000, "fuller")

    decision = decide([pod("new")], [node("emptier"), node("fuller")], {"fuller": [busy]})

    assert decision.bindings == {"default/new": "fuller"}
    assert decision.unschedulable == {}


def test_not_ready_and_deleting_nodes_take_no_pods() -> None:
    nodes = [node("booting", ready=False), node("leaving", deleting=True)]

    decision = decide([pod("p")], nodes, {})

    assert decision.bindings == {}
    assert decision.unschedulable == {
        "default/p": (
            "0/1 nodes are available: 1 node(s) had untolerated taint "
            "{node.kubernetes.io/not-ready: }."
        )
    }


def test_equivalent_pods_share_one_message_and_fill_a_node_first() -> None:
    pods = [pod(f"p{i}", 1500) for i in range(4)]
    tainted = node("t", taints=(Taint("x", TaintEffect.NO_SCHEDULE),))

    decision = decide(pods, [node("n"), tainted], {})

    assert sorted(decision.bindings.values()) == ["n", "n"]
    assert set(decision.unschedulable.values()) == {
        "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) had untolerated taint {x: }."
    }
    assert len(decision.unschedulable) == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(100, 5000), min_size=1, max_size=25),
    st.lists(st.integers(500, 8000), min_size=0, max_size=5),
)
def test_bindings_never_exceed_a_node_and_every_pod_is_bound_or_explained(
    pod_cpus: list[int], node_cpus: list[int]
) -> None:
    pods = [pod(f"p{i}", cpu) for i, cpu in enumerate(pod_cpus)]
    nodes = [node(f"n{i}", cpu) for i, cpu in enumerate(node_cpus)]

    decision = decide(pods, nodes, {})

    for candidate in nodes:
        placed = [p for p in pods if decision.bindings.get(p.key) == candidate.name]
        assert sum(p.requests.cpu for p in placed) <= candidate.allocatable.cpu
    assert set(decision.bindings) | set(decision.unschedulable) == {p.key for p in pods}
    assert not set(decision.bindings) & set(decision.unschedulable)
    for message in decision.unschedulable.values():
        assert message == NO_NODES if not nodes else message.startswith(f"0/{len(nodes)} nodes")


def test_message_counts_each_insufficient_resource_and_sorts_reasons() -> None:
    reasons = ["Insufficient cpu, Insufficient memory", "Insufficient cpu", "node(s) were x"]

    message = unschedulable_message(3, reasons)

    assert message == (
        "0/3 nodes are available: 2 Insufficient cpu, 1 Insufficient memory, 1 node(s) were x."
    )
    assert unschedulable_message(0, []) == NO_NODES


def test_failure_injection_is_a_repeatable_function_of_seed_and_name() -> None:
    names = [f"vm-{i}" for i in range(2000)]
    one = FailureInjection(never_running=0.3, seed=7)
    again = FailureInjection(never_running=0.3, seed=7)
    other = FailureInjection(never_running=0.3, seed=8)

    picked = [n for n in names if one.stops_before_running(n)]

    assert picked == [n for n in reversed(names) if again.stops_before_running(n)][::-1]
    assert picked != [n for n in names if other.stops_before_running(n)]
    assert 0.25 < len(picked) / len(names) < 0.35
    assert not any(one.stops_before_registering(n) for n in names)
    assert 0 <= draw(1, "x", "y") < 1


def test_failure_predicate_and_bad_fraction() -> None:
    chosen = FailureInjection(never_registers_if=lambda name: name.endswith("-bad"))

    assert chosen.stops_before_registering("vm-bad")
    assert not chosen.stops_before_registering("vm-good")
    try:
        FailureInjection(never_running=1.5)
    except ValueError as error:
        assert "never_running" in str(error)
    else:
        raise AssertionError("a fraction above 1 was accepted")
