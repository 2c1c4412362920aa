"""The per-node cache: reuse only while a node and its pods are unchanged, and decisions made
with it are the decisions made without it."""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_autoscaler_world import GI, make_node, make_pod, make_pool, pending_pod, world

from autoscaler.api.policy import BudgetKind, DisruptionBudget
from autoscaler.api.resources import Resources
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig, disrupting_taint
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodDisruptionBudget,
    PodPhase,
    Snapshot,
)
from autoscaler.core.nodecache import NodeCache, blocking_pdbs_by_namespace
from autoscaler.core.pending import DEFAULT_SCHEDULERS
from autoscaler.core.predicates import NodeState

SPREAD = (PodAffinityTerm(LabelSelector(match_labels=(("app", "db"),)), HOSTNAME_LABEL),)


def test_copy_is_independent_of_its_original() -> None:
    node = make_node("n1", cpu=4000, memory=8 * GI)
    pods = [
        make_pod("a", "n1", 1000, GI, host_ports=(HostPort(9100),)),
        make_pod("b", "n1", 1000, GI, labels={"app": "db"}, required_anti_affinity=SPREAD),
    ]
    original = NodeState.from_node(node, pods)
    copy = original.copy()
    extra = make_pod("c", None, 1500, GI)
    copy.add(extra)
    copy.remove(pods[0])

    assert original.used == NodeState.from_node(node, pods).used
    assert [p.key for p in original.pods] == ["default/a", "default/b"]
    assert original.fit_failure(make_pod("port", None, 100, GI, host_ports=(HostPort(9100),)))
    assert copy.fit_failure(make_pod("port", None, 100, GI, host_ports=(HostPort(9100),))) is None
    assert copy.used == NodeState.from_node(node, [pods[1], extra]).used

    # Changing the original after copying leaves the copy alone too.
    second = original.copy()
    original.remove(pods[1])
    assert [p.key for p in second.pods] == ["default/a", "default/b"]
    assert second.used == NodeState.from_node(node, pods).used
    assert [p.key for p in copy.pods] == ["default/b", "default/c"]


def test_facts_are_reused_while_node_and_pods_are_equal() -> None:
    cache = NodeCache()
    node = make_node("n1")
    pods = (make_pod("a", "n1", 1000, GI), make_pod("b", "n1", 500, GI))
    first = cache.facts(node, pods)

    assert cache.facts(node, pods) is first
    # Objects rebuilt with the same content (as an informer may do) are still a hit.
    rebuilt = tuple(dataclasses.replace(p) for p in pods)
    assert cache.facts(dataclasses.replace(node), rebuilt) is first

    grown = (pods[0], dataclasses.replace(pods[1], requests=pods[0].requests))
    changed = cache.facts(node, grown)
    assert changed is not first
    assert changed.utilization > first.utilization
    cordoned = cache.facts(dataclasses.replace(node, unschedulable=True), grown)
    assert cordoned is not changed
    assert cordoned.state().cordoned is True


def test_states_handed_out_are_private() -> None:
    cache = NodeCache()
    node = make_node("n1", cpu=2000, memory=4 * GI)
    pods = (make_pod("a", "n1", 1000, GI),)
    state = cache.state(node, pods)
    state.add(make_pod("b", None, 1000, GI))

    again = cache.state(node, pods)
    assert again is not state
    assert again.used == NodeState.from_node(node, pods).used
    assert again.fit_failure(make_pod("c", None, 1000, GI)) is None


def test_blockers_follow_the_budgets_of_the_pods_namespaces() -> None:
    cache = NodeCache()
    node = make_node("n1")
    pods = (make_pod("a", "n1", labels={"app": "web"}),)
    guard = PodDisruptionBudget("default", "web", LabelSelector((("app", "web"),)), 1)
    other = PodDisruptionBudget("elsewhere", "x", LabelSelector(), 0)
    facts = cache.facts(node, pods)

    assert facts.blockers(blocking_pdbs_by_namespace([guard, other])) == []
    exhausted = dataclasses.replace(guard, disruptions_allowed=0)
    blockers = facts.blockers(blocking_pdbs_by_namespace([exhausted, other]))
    assert [(b.pod, b.momentary) for b in blockers] == [("default/a", True)]
    assert facts.blockers(blocking_pdbs_by_namespace([guard])) == []


def test_begin_forgets_nodes_that_left_and_rebinds_pods() -> None:
    cache = NodeCache()
    n1, n2 = make_node("n1"), make_node("n2")
    pod = make_pod("a", "n1")
    snapshot = world([n1, n2], [pod])
    cache.begin(snapshot)
    first = cache.facts(n2, ())
    assert cache.bound(snapshot.pods) is cache.bound(snapshot.pods)
    assert [p.key for p in cache.bound(snapshot.pods)["n1"]] == ["default/a"]

    waiting = dataclasses.replace(pod, node_name=None, unschedulable=True, phase=PodPhase.PENDING)
    later = world([n1], [waiting])
    assert cache.pending(later.pods, DEFAULT_SCHEDULERS) == list(later.pods)
    assert cache.pending(snapshot.pods, DEFAULT_SCHEDULERS) == []
    cache.begin(later)
    assert "n1" not in cache.bound(later.pods)
    assert cache.pending(later.pods, DEFAULT_SCHEDULERS) == list(later.pods)
    assert not cache.any_anti_affinity(later.pods)
    assert cache.facts(n2, ()) is not first  # n2 had left, so it starts afresh


def test_disabled_cache_computes_afresh() -> None:
    cache = NodeCache(enabled=False)
    node = make_node("n1")
    pods = (make_pod("a", "n1"),)
    assert cache.facts(node, pods) is not cache.facts(node, pods)
    assert cache.hits == 0


# Cached and uncached decisions over evolving worlds -------------------------------------------
NODE_SIZES = [(2000, 4 * GI), (4000, 8 * GI), (4000, 16 * GI), (8000, 32 * GI)]
STEPS = [
    "wait",
    "remove",
    "add",
    "bind",
    "rebuild",
    "pdb",
    "cordon",
    "drop",
    "phase",
    "retaint",
    "resize",
    "terminate",
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[Snapshot, list[tuple[str, int, int]]]:
    pool = make_pool(
        image_hash="img-v2",
        scale_down_unneeded_seconds=draw(st.sampled_from([0.0, 30.0, 120.0])),
        scale_down_utilization_threshold=draw(st.sampled_from([0.5, 0.8])),
        min_nodes=draw(st.integers(0, 1)),
        disruption_budget=DisruptionBudget(BudgetKind.COUNT, draw(st.integers(1, 3))),
    )
    nodes = [
        make_node(
            f"n{i}",
            cpu=(size := draw(st.sampled_from(NODE_SIZES)))[0],
            memory=size[1],
            image_hash=draw(st.sampled_from(["img-v2", "img-v2", "img-v2", "img-v1"])),
        )
        for i in range(draw(st.integers(1, 6)))
    ]
    free = {n.name: n.allocatable for n in nodes}
    pods: list[Pod] = []
    for i in range(draw(st.integers(0, 16))):
        node = draw(st.sampled_from(nodes)).name
        cpu = draw(st.sampled_from([100, 250, 500, 1000]))
        kind = draw(st.sampled_from(["plain", "web", "web", "db", "port", "ds"]))
        fields: dict[str, Any] = {}
        if kind == "web":
            fields = {"labels": {"app": "web"}}
        elif kind == "db":
            fields = {"labels": {"app": "db"}, "required_anti_affinity": SPREAD}
        elif kind == "port":
            fields = {"host_ports": (HostPort(9100),)}
        elif kind == "ds":
            fields = {"owner_kind": "DaemonSet"}
        pod = make_pod(f"p{i}", node, cpu, GI // 2, **fields)
        if pod.requests.fits_in(free[node]):
            free[node] = free[node] - pod.requests
            pods.append(pod)
    allowed = draw(st.integers(0, 1))
    pdb = PodDisruptionBudget("default", "web", LabelSelector((("app", "web"),)), allowed)
    start = world(nodes, pods, pools=[pool], pdbs=(pdb,))
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from(STEPS), st.integers(0, 99), st.integers(0, 99)),
            min_size=4,
            max_size=14,
        )
    )
    return start, steps


def _evolve(snapshot: Snapshot, step: tuple[str, int, int], serial: int) -> Snapshot:
    """One change of the world; unchanged objects stay the same objects, as in an informer."""
    kind, a, b = step
    pods, nodes = list(snapshot.pods), list(snapshot.nodes)
    if kind == "remove" and pods:
        del pods[a % len(pods)]
    elif kind == "add":
        pods.append(pending_pod(f"new{serial}", cpu=[250, 1000, 3000][b % 3], memory=GI))
    elif kind == "bind" and nodes:
        unbound = [i for i, p in enumerate(pods) if p.node_name is None]
        if unbound:
            i = unbound[a % len(unbound)]
            pods[i] = dataclasses.replace(
                pods[i], node_name=nodes[b % len(nodes)].name, unschedulable=False
            )
    elif kind == "rebuild":
        pods = [dataclasses.replace(p) for p in pods]
        nodes = [dataclasses.replace(n) for n in nodes]
    elif kind == "pdb":
        pdbs = tuple(dataclasses.replace(p, disruptions_allowed=a % 2) for p in snapshot.pdbs)
        snapshot = dataclasses.replace(snapshot, pdbs=pdbs)
    elif kind == "cordon" and nodes:
        i = a % len(nodes)
        nodes[i] = dataclasses.replace(nodes[i], unschedulable=not nodes[i].unschedulable)
    elif kind == "drop" and len(nodes) > 1:
        gone = nodes.pop(a % len(nodes)).name
        pods = [p for p in pods if p.node_name != gone]
        snapshot = dataclasses.replace(
            snapshot, vms=tuple(vm for vm in snapshot.vms if vm.name != gone)
        )
    elif kind == "phase" and pods:
        i = a % len(pods)
        pods[i] = dataclasses.replace(pods[i], phase=PodPhase.SUCCEEDED)
    elif kind == "resize" and pods:
        # Same pod, same node, other requests: only the content of the node's pods changes.
        i = a % len(pods)
        cpu = [100, 500, 2000, 6000][b % 4]
        pods[i] = dataclasses.replace(pods[i], requests=Resources.of(cpu=cpu, memory=GI))
    elif kind == "terminate" and pods:
        i = a % len(pods)
        pods[i] = dataclasses.replace(pods[i], terminating=not pods[i].terminating)
    elif kind == "retaint" and nodes:
        i = a % len(nodes)
        nodes[i] = _with_disrupting_taint(nodes[i]) if b % 2 else nodes[i]
    return dataclasses.replace(snapshot, pods=tuple(pods), nodes=tuple(nodes))


def _with_disrupting_taint(node: Node) -> Node:
    return dataclasses.replace(
        node, unschedulable=True, taints=(*node.taints, disrupting_taint("Underutilized"))
    )


def _views(core: Autoscaler, snapshot: Snapshot) -> tuple[object, ...]:
    return (
        core.draining(),
        core.next_consolidation_check(),
        tuple(core.unneeded_since(n.name) for n in snapshot.nodes),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.sampled_from([10.0, 20.0, 70.0]))
def test_cached_and_uncached_decisions_are_identical(
    history: tuple[Snapshot, list[tuple[str, int, int]]], interval: float
) -> None:
    snapshot, steps = history
    config = CoreConfig(scale_down_validation_delay=15.0)
    cached = Autoscaler(config)
    fresh = Autoscaler(config, node_cache=NodeCache(enabled=False))
    now = 1000.0
    for serial, step in enumerate([("wait", 0, 0), *steps, ("wait", 0, 0)]):
        snapshot = _evolve(snapshot, step, serial)
        # Each state is decided twice, as when a scan finds nothing changed.
        for _ in range(2):
            now += interval
            assert cached.decide(snapshot, now) == fresh.decide(snapshot, now)
            assert _views(cached, snapshot) == _views(fresh, snapshot)
