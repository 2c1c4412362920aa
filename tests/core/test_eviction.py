"""Which pods a drain moves and which pods keep a node from being scaled down."""

from __future__ import annotations

from test_autoscaler_world import make_pod

from autoscaler.core.eviction import (
    movable_pods,
    must_move,
    node_blockers,
    pod_blocker,
    still_draining,
)
from autoscaler.core.model import LabelSelector, PodDisruptionBudget, PodPhase, Requirement


def pdb(allowed: int, namespace: str = "default", **labels: str) -> PodDisruptionBudget:
    return PodDisruptionBudget(
        namespace, "web-pdb", LabelSelector(match_labels=tuple(labels.items())), allowed
    )


def test_a_replicated_pod_without_annotations_may_be_evicted() -> None:
    assert pod_blocker(make_pod("web-1", "n1")) is None


def test_do_not_disrupt_blocks_even_when_safe_to_evict() -> None:
    blocker = pod_blocker(make_pod("web-1", "n1", do_not_disrupt=True, safe_to_evict=True))
    assert blocker is not None and not blocker.momentary
    assert "kvpool.io/do-not-disrupt" in str(blocker)
    assert "default/web-1" in str(blocker)


def test_bare_pod_blocks_unless_declared_safe_to_evict() -> None:
    bare = make_pod("debug", "n1", owner_kind=None)
    blocker = pod_blocker(bare)
    assert blocker is not None and "controller" in blocker.reason
    assert pod_blocker(make_pod("debug", "n1", owner_kind=None, safe_to_evict=True)) is None


def test_local_storage_blocks_unless_declared_safe_to_evict() -> None:
    blocker = pod_blocker(make_pod("cache", "n1", local_storage=True))
    assert blocker is not None and "local storage" in blocker.reason
    assert pod_blocker(make_pod("cache", "n1", local_storage=True, safe_to_evict=True)) is None


def test_safe_to_evict_false_blocks() -> None:
    blocker = pod_blocker(make_pod("db", "n1", safe_to_evict=False))
    assert blocker is not None and "safe-to-evict=false" in blocker.reason


def test_pdb_without_disruptions_left_blocks_only_momentarily_and_only_its_pods() -> None:
    web = make_pod("web-1", "n1", labels={"app": "web"})
    other = make_pod("api-1", "n1", labels={"app": "api"})
    elsewhere = make_pod("web-2", "n1", labels={"app": "web"}, namespace="prod")
    budgets = [pdb(0, app="web")]

    blocker = pod_blocker(web, budgets)
    assert blocker is not None and blocker.momentary and "default/web-pdb" in blocker.reason
    assert pod_blocker(other, budgets) is None
    assert pod_blocker(elsewhere, budgets) is None
    assert pod_blocker(web, [pdb(1, app="web")]) is None


def test_pdb_with_expression_selector() -> None:
    selector = LabelSelector(match_expressions=(Requirement("tier", "In", ("front", "edge")),))
    budget = PodDisruptionBudget("default", "front", selector, 0)
    assert pod_blocker(make_pod("a", "n1", labels={"tier": "edge"}), [budget]) is not None
    assert pod_blocker(make_pod("b", "n1", labels={"tier": "back"}), [budget]) is None


def test_daemonset_static_and_terminal_pods_never_block_and_are_not_moved() -> None:
    staying = [
        make_pod("ds", "n1", owner_kind="DaemonSet", owner_name="fluentbit", local_storage=True),
        make_pod("static", "n1", owner_kind="Node", do_not_disrupt=True),
        make_pod("done", "n1", owner_kind=None, phase=PodPhase.SUCCEEDED),
        make_pod("crashed", "n1", safe_to_evict=False, phase=PodPhase.FAILED),
    ]
    assert node_blockers(staying, [pdb(0)]) == []
    assert movable_pods(staying) == []
    assert not any(still_draining(pod) for pod in staying)


def test_terminating_pods_are_not_moved_but_the_drain_waits_for_them() -> None:
    leaving = make_pod("web-1", "n1", terminating=True, do_not_disrupt=True)
    assert not must_move(leaving)
    assert pod_blocker(leaving) is None
    assert still_draining(leaving)


def test_node_blockers_lists_every_blocking_pod_in_order() -> None:
    pods = [
        make_pod("a", "n1", owner_kind=None),
        make_pod("b", "n1"),
        make_pod("c", "n1", do_not_disrupt=True),
    ]
    assert [b.pod for b in node_blockers(pods)] == ["default/a", "default/c"]
