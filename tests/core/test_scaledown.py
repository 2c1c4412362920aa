"""Scale-down candidate selection with a hand-made clock and a scale-up stand-in.

The stand-in planner lets these tests decide what "the next scale-up would launch" means;
the tests of the whole state machine use the real scale-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from test_autoscaler_world import (
    SHAPE,
    make_node,
    make_pod,
    make_pool,
    pending_pod,
    vm_for,
    world,
)

from autoscaler.api.policy import BudgetKind, DisruptionBudget
from autoscaler.core.actions import LaunchVM, Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.disruption.controller import ScaleDown
from autoscaler.core.disruption.holds import hold_reason
from autoscaler.core.disruption.method import Command
from autoscaler.core.lifecycle import Lifecycle
from autoscaler.core.model import LabelSelector, PodDisruptionBudget, Pool, Snapshot, VMPhase
from autoscaler.core.scheduling import bound_pods_by_node

CONFIG = CoreConfig()


@dataclass(frozen=True)
class _Result:
    launches: tuple[LaunchVM, ...]
    placements: Mapping[str, str] = dataclasses.field(default_factory=dict)


def no_relaunch(snapshot: Snapshot, pools: Sequence[Pool], unhealthy: Collection[str]) -> _Result:
    return _Result(())


def relaunch_every_pending_pod(
    snapshot: Snapshot, pools: Sequence[Pool], unhealthy: Collection[str]
) -> _Result:
    pending = tuple(p.key for p in snapshot.pods if p.node_name is None and p.unschedulable)
    if not pending or not pools:
        return _Result(())
    launch = LaunchVM(pools[0].name, SHAPE, "k8s", "img-v2", Reason.PENDING_PODS, pods=pending)
    return _Result((launch,))


def run(
    scale_down: ScaleDown,
    snapshot: Snapshot,
    now: float,
    holds: dict[str, str] | None = None,
    leaving: Sequence[str] = (),
) -> Command:
    valid = [p for p in snapshot.pools if p.settings is not None]
    return scale_down.plan(
        snapshot,
        now,
        pools=valid,
        holds=holds or {},
        leaving=leaving,
        excluded=(),
        lifecycle=Lifecycle(CONFIG).step(snapshot, now),
        scale_up_pools=valid,
    )


def removed(result: Command) -> list[str]:
    return [c.node.name for c in result.removals]


def test_empty_node_goes_only_after_the_unneeded_time_and_the_timer_resets() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    empty = world([make_node("n1"), make_node("n2")], [make_pod("a", "n2", cpu=2500)])
    busy = world(
        [make_node("n1"), make_node("n2")],
        [make_pod("a", "n2", cpu=2500), make_pod("b", "n1", cpu=3000)],
    )

    assert removed(run(scale_down, empty, 0.0)) == []
    assert removed(run(scale_down, empty, 299.0)) == []
    assert run(scale_down, busy, 300.0).unneeded == ()
    assert removed(run(scale_down, empty, 400.0)) == []
    assert removed(run(scale_down, empty, 999.0)) == []
    result = run(scale_down, empty, 1000.0)
    assert removed(result) == ["n1"]
    assert result.method is Reason.EMPTY
    assert result.removals[0].reason is Reason.EMPTY


def test_daemonset_and_finished_pods_do_not_make_a_node_busy() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    pods = [
        make_pod("ds", "n1", owner_kind="DaemonSet"),
        make_pod("job", "n1", phase="Succeeded"),
    ]
    snapshot = world([make_node("n1")], pods)
    run(scale_down, snapshot, 0.0)
    assert removed(run(scale_down, snapshot, 600.0)) == ["n1"]


def test_underutilised_node_goes_when_its_pods_fit_elsewhere() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2")]
    snapshot = world(nodes, [make_pod("a", "n1", cpu=500), make_pod("b", "n2", cpu=2500)])
    run(scale_down, snapshot, 0.0)
    result = run(scale_down, snapshot, 600.0)
    assert result.method is Reason.UNDERUTILIZED
    assert removed(result) == ["n1"]
    assert [p.key for p in result.removals[0].moved] == ["default/a"]


def test_underutilised_node_stays_when_its_pods_fit_nowhere_else() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2")]
    snapshot = world(nodes, [make_pod("a", "n1", cpu=1500), make_pod("b", "n2", cpu=3000)])
    run(scale_down, snapshot, 0.0)
    result = run(scale_down, snapshot, 10_000.0)
    assert result.unneeded == ()
    assert removed(result) == []


def test_pods_moved_by_one_candidate_take_room_from_the_next() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    pods = [
        make_pod("a", "n1", cpu=1500),
        make_pod("b", "n2", cpu=1500),
        make_pod("c", "n3", cpu=2500),  # above the threshold; 1.5 cpu free
    ]
    snapshot = world(nodes, pods)
    run(scale_down, snapshot, 0.0)
    result = run(scale_down, snapshot, 600.0)
    # Either n1 or n2 can go, never both: their pods together need 3 cpu elsewhere.
    assert len(removed(result)) == 1


def test_node_with_more_than_threshold_utilisation_is_needed() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2"), make_node("n3")]
    pods = [make_pod("a", "n1", cpu=2100)]
    budget = DisruptionBudget(BudgetKind.COUNT, 3)
    snapshot = world(nodes, pods, pools=[make_pool(disruption_budget=budget)])
    run(scale_down, snapshot, 0.0)
    result = run(scale_down, snapshot, 600.0)
    assert "n1" not in result.unneeded
    assert sorted(removed(result)) == ["n2", "n3"]


def test_min_nodes_is_never_undercut() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    snapshot = world(
        [make_node(f"n{i}") for i in range(3)],
        pools=[make_pool(min_nodes=2)],
    )
    run(scale_down, snapshot, 0.0)
    assert len(removed(run(scale_down, snapshot, 600.0))) == 1


def test_disruption_budget_by_count_counts_nodes_already_leaving() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    budget = DisruptionBudget(BudgetKind.COUNT, 2)
    snapshot = world(
        [make_node(f"n{i}") for i in range(5)], pools=[make_pool(disruption_budget=budget)]
    )
    run(scale_down, snapshot, 0.0)
    assert len(removed(run(scale_down, snapshot, 600.0))) == 2
    assert removed(run(scale_down, snapshot, 601.0, leaving=["n0"])) == ["n1"]


def test_disruption_budget_by_percent_rounds_up() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    budget = DisruptionBudget(BudgetKind.PERCENT, 20)
    snapshot = world(
        [make_node(f"n{i}") for i in range(11)], pools=[make_pool(disruption_budget=budget)]
    )
    run(scale_down, snapshot, 0.0)
    assert len(removed(run(scale_down, snapshot, 600.0))) == 3  # ceil(11 * 20%)


def test_max_disrupted_per_pass_caps_all_pools_together() -> None:
    scale_down = ScaleDown(CoreConfig(max_disrupted_per_pass=3), no_relaunch)
    budget = DisruptionBudget(BudgetKind.COUNT, 10)
    pools = [make_pool("a", disruption_budget=budget), make_pool("b", disruption_budget=budget)]
    nodes = [make_node(f"{p}{i}", pool=p) for p in "ab" for i in range(3)]
    snapshot = world(nodes, pools=pools)
    run(scale_down, snapshot, 0.0)
    assert len(removed(run(scale_down, snapshot, 600.0))) == 3


def test_blocking_pods_keep_their_node() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2"), make_node("n3"), make_node("n4"), make_node("n5")]
    pods = [
        make_pod("keep", "n1", do_not_disrupt=True),
        make_pod("bare", "n2", owner_kind=None),
        make_pod("scratch", "n3", local_storage=True),
        make_pod("pinned", "n4", safe_to_evict=False),
    ]
    snapshot = world(nodes, pods)
    run(scale_down, snapshot, 0.0)
    result = run(scale_down, snapshot, 600.0)
    assert removed(result) == ["n5"]


def test_local_storage_declared_safe_to_evict_does_not_block() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2")]
    pods = [
        make_pod("scratch", "n1", local_storage=True, safe_to_evict=True),
        make_pod("busy", "n2", cpu=3000),
    ]
    snapshot = world(nodes, pods)
    run(scale_down, snapshot, 0.0)
    assert removed(run(scale_down, snapshot, 600.0)) == ["n1"]


def test_pdb_blocks_only_for_now_and_the_unneeded_time_keeps_running() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2")]
    pods = [make_pod("web", "n1", labels={"app": "web"}), make_pod("x", "n2", cpu=2500)]
    selector = LabelSelector(match_labels=(("app", "web"),))
    held = world(nodes, pods, pdbs=(PodDisruptionBudget("default", "web", selector, 0),))
    free = world(nodes, pods, pdbs=(PodDisruptionBudget("default", "web", selector, 1),))

    run(scale_down, held, 0.0)
    result = run(scale_down, held, 700.0)
    assert "n1" in result.unneeded
    assert removed(result) == []
    assert removed(run(scale_down, free, 701.0)) == ["n1"]


def test_cheapest_disruption_goes_first() -> None:
    scale_down = ScaleDown(CoreConfig(max_disrupted_per_pass=1), no_relaunch)
    nodes = [
        make_node("a-two-pods"),
        make_node("b-one-pod-busier"),
        make_node("c-one-pod-idle", created=50.0),
        make_node("d-one-pod-idle-older", created=10.0),
        make_node("big", cpu=32000, memory=128 * 2**30),
    ]
    pods = [
        make_pod("p1", "a-two-pods", cpu=200),
        make_pod("p2", "a-two-pods", cpu=200),
        make_pod("p3", "b-one-pod-busier", cpu=1000),
        make_pod("p4", "c-one-pod-idle", cpu=200),
        make_pod("p5", "d-one-pod-idle-older", cpu=200),
        make_pod("p6", "big", cpu=20000),
    ]
    snapshot = world(nodes, pods)
    run(scale_down, snapshot, 0.0)
    assert removed(run(scale_down, snapshot, 600.0)) == ["d-one-pod-idle-older"]


def test_a_removal_whose_pods_would_be_launched_again_is_dropped() -> None:
    scale_down = ScaleDown(CONFIG, relaunch_every_pending_pod)
    nodes = [make_node("n1"), make_node("n2")]
    snapshot = world(nodes, [make_pod("a", "n1", cpu=500), make_pod("b", "n2", cpu=500)])
    run(scale_down, snapshot, 0.0)
    assert removed(run(scale_down, snapshot, 600.0)) == []


def test_not_ready_cordoned_and_deleting_nodes_are_never_candidates() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [
        make_node("n1", ready=False),
        make_node("n2", unschedulable=True),
        make_node("n3", deleting=True),
    ]
    snapshot = world(nodes)
    run(scale_down, snapshot, 0.0)
    assert removed(run(scale_down, snapshot, 10_000.0)) == []


def test_drifted_node_with_room_elsewhere_goes_without_waiting() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("old", image_hash="img-v1"), make_node("new", image_hash="img-v2")]
    pods = [make_pod("a", "old", cpu=3000), make_pod("b", "new", cpu=500)]
    snapshot = world(nodes, pods, pools=[make_pool(image_hash="img-v2")])
    result = run(scale_down, snapshot, 0.0)
    assert result.method is Reason.DRIFTED
    assert removed(result) == ["old"]
    assert result.replacements == ()


def test_drifted_node_without_room_gets_a_replacement_first() -> None:
    scale_down = ScaleDown(CONFIG, relaunch_every_pending_pod)
    nodes = [make_node("old", image_hash="img-v1")]
    snapshot = world(
        nodes, [make_pod("a", "old", cpu=3000)], pools=[make_pool(image_hash="img-v2")]
    )
    result = run(scale_down, snapshot, 0.0)
    assert removed(result) == []
    assert [(r.reason, r.pods) for r in result.replacements] == [(Reason.DRIFTED, ("default/a",))]
    assert "replaces old" in result.replacements[0].detail


def test_drifted_node_at_min_nodes_is_replaced_not_removed() -> None:
    scale_down = ScaleDown(CONFIG, relaunch_every_pending_pod)
    nodes = [make_node("old", image_hash="img-v1"), make_node("new", image_hash="img-v2")]
    pods = [make_pod("a", "old", cpu=500)]
    snapshot = world(nodes, pods, pools=[make_pool(image_hash="img-v2", min_nodes=2)])
    result = run(scale_down, snapshot, 0.0)
    assert removed(result) == []
    assert [r.reason for r in result.replacements] == [Reason.DRIFTED]


def test_expired_node_is_rotated() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1", created=0.0), make_node("n2", created=5000.0)]
    pods = [make_pod("a", "n1", cpu=3000), make_pod("b", "n2", cpu=500)]
    snapshot = world(nodes, pods, pools=[make_pool(expire_after_seconds=3600.0)])
    assert removed(run(scale_down, snapshot, 3600.0)) == []
    result = run(scale_down, snapshot, 3601.0)
    assert result.method is Reason.EXPIRED
    assert removed(result) == ["n1"]


def test_held_pool_does_not_shrink_but_still_obeys_its_max() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    budget = DisruptionBudget(BudgetKind.COUNT, 5)
    snapshot = world(
        [make_node(f"n{i}") for i in range(4)],
        pools=[make_pool(max_nodes=2, disruption_budget=budget)],
    )
    holds = {"general": "pending pods"}
    run(scale_down, snapshot, 0.0, holds=holds)
    result = run(scale_down, snapshot, 10_000.0, holds=holds)
    assert result.method is Reason.OVER_MAX
    assert len(result.removals) == 2
    assert result.unneeded == ()

    within = world([make_node(f"n{i}") for i in range(4)])
    assert run(scale_down, within, 20_000.0, holds=holds).removals == ()


def test_over_max_deletes_launching_vms_first() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    nodes = [make_node("n1"), make_node("n2")]
    vms = [
        vm_for(nodes[0]),
        vm_for(nodes[1]),
        vm_for(make_node("vm-new"), node_name=None, phase=VMPhase.PENDING, created=100.0),
    ]
    snapshot = world(nodes, vms=vms, pools=[make_pool(max_nodes=2)])
    result = run(scale_down, snapshot, 120.0)
    assert [(d.vm, d.reason) for d in result.deletions] == [("vm-new", Reason.OVER_MAX)]
    assert result.removals == ()


def test_hold_reasons() -> None:
    pool = make_pool()
    empty = world([make_node("n1")])
    launching = world(
        [make_node("n1")], vms=[vm_for(make_node("v"), node_name=None, phase=VMPhase.PENDING)]
    )

    def hold(snapshot: Snapshot = empty, **kw: object) -> str | None:
        values: dict[str, object] = {
            "snapshot": snapshot,
            "pending": [p for p in snapshot.pods if p.node_name is None],
            "last_launch": None,
            "now": 1000.0,
            "config": CONFIG,
        }
        values.update(kw)
        return hold_reason(pool, **values)  # type: ignore[arg-type]

    assert hold() is None
    # Launching VMs alone do not hold a pool: removals are checked against the next scale-up.
    assert hold(launching) is None
    cooldown = CoreConfig(scale_down_cooldown_after_scale_up=120.0)
    assert "cooldown" in (hold(last_launch=1000.0 - 60.0, config=cooldown) or "")
    assert hold(last_launch=1000.0 - 121.0, config=cooldown) is None
    assert hold(last_launch=1000.0 - 60.0) is None  # no cooldown by default
    servable = world([make_node("n1")], [pending_pod("p", cpu=1000)])
    assert "default/p" in (hold(servable) or "")
    too_big = world([make_node("n1")], [pending_pod("huge", cpu=64_000)])
    assert hold(too_big) is None
    elsewhere = world([make_node("n1")], [pending_pod("gpu", node_selector={"gpu": "yes"})])
    assert hold(elsewhere) is None


def test_bound_pods_helper_used_by_tests_sees_world_pods() -> None:
    snapshot = world([make_node("n1")], [make_pod("a", "n1")])
    assert list(bound_pods_by_node(snapshot.pods)) == ["n1"]


def test_a_launching_vm_whose_node_registered_counts_once_towards_max() -> None:
    scale_down = ScaleDown(CONFIG, no_relaunch)
    ready, registering = make_node("n1"), make_node("n2", ready=False)
    vms = [vm_for(ready), vm_for(registering, created=100.0)]
    snapshot = world([ready, registering], vms=vms, pools=[make_pool(max_nodes=2)])
    result = run(scale_down, snapshot, 120.0)
    assert result.deletions == () and result.removals == ()


def test_a_pass_checks_few_nodes_with_pods_and_earlier_finds_first() -> None:
    # Eight under-used nodes whose pods would all fit elsewhere; only three checks per pass.
    config = dataclasses.replace(CONFIG, max_non_empty_candidates_per_pass=3)
    nodes = [make_node(f"n{i}") for i in range(8)]
    pods = [make_pod(f"p{i}", f"n{i}", cpu=300) for i in range(8)]
    snapshot = world(nodes, pods)
    scale_down = ScaleDown(config, no_relaunch)
    first = run(scale_down, snapshot, 0.0)
    assert len(first.unneeded) == 3
    # Other nodes become the emptier ones, but the nodes found unneeded are checked first
    # again, so their timers keep running.
    emptier = [make_pod(f"p{i}", f"n{i}", cpu=100 if i >= 5 else 300) for i in range(8)]
    second = run(scale_down, world(nodes, emptier), 10.0)
    assert set(second.unneeded) == set(first.unneeded)
    assert all(scale_down.unneeded_since.since(name) == 0.0 for name in first.unneeded)
