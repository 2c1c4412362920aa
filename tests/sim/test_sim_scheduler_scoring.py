"""The simulated kube-scheduler scores like the default profile (LeastAllocated and
BalancedAllocation), and the
fixed-shape baseline waits after a scale-up as cluster-autoscaler does."""

from __future__ import annotations

from autoscaler.api.resources import Resources
from autoscaler.core.model import Pod
from autoscaler.core.predicates import NodeState
from autoscaler.sim.baseline import BaselineConfig
from autoscaler.sim.scheduler import place_by_default_profile

GI = 2**30


def node(name: str, used_cpu: int = 0) -> NodeState:
    state = NodeState(name, Resources.of(cpu=8000, memory=32 * GI, pods=110))
    if used_cpu:
        state.add(Pod("kube-system", f"{name}-busy", requests=Resources.of(cpu=used_cpu)))
    return state


def pod(name: str, cpu: int = 1000, created: float = 0.0) -> Pod:
    return Pod("default", name, requests=Resources.of(cpu=cpu, memory=GI), created=created)


def test_a_pod_goes_to_the_least_allocated_node() -> None:
    nodes = [node("a", used_cpu=6000), node("b", used_cpu=1000)]
    assert place_by_default_profile([pod("p")], nodes) == {"default/p": "b"}
    assert len(nodes[1].pods) == 2


def test_equivalent_pods_spread_over_equally_free_nodes() -> None:
    nodes = [node("a"), node("b"), node("c")]
    placed = place_by_default_profile([pod(f"p{i}", created=i) for i in range(6)], nodes)
    assert sorted(placed.values()) == ["a", "a", "b", "b", "c", "c"]


def test_a_cpu_heavy_pod_prefers_the_node_whose_memory_is_fuller() -> None:
    # Both nodes are as free on average before and after, so LeastAllocated alone would take
    # the first by name; BalancedAllocation picks the node where the pod evens out cpu and
    # memory, so that neither is stranded.
    cpu_full = NodeState("a", Resources.of(cpu=8000, memory=32 * GI, pods=110))
    cpu_full.add(Pod("kube-system", "batch", requests=Resources.of(cpu=5000, memory=4 * GI)))
    memory_full = NodeState("b", Resources.of(cpu=8000, memory=32 * GI, pods=110))
    memory_full.add(Pod("kube-system", "cache", requests=Resources.of(cpu=1000, memory=20 * GI)))
    web = Pod("default", "web", requests=Resources.of(cpu=2000, memory=GI))
    assert place_by_default_profile([web], [cpu_full, memory_full]) == {"default/web": "b"}


def test_pods_that_fit_nowhere_stay_unplaced() -> None:
    nodes = [node("a", used_cpu=7500)]
    assert place_by_default_profile([pod("big", cpu=4000), pod("small", cpu=400)], nodes) == {
        "default/small": "a"
    }


def test_baseline_waits_after_a_scale_up_like_cluster_autoscaler() -> None:
    config = BaselineConfig()
    assert config.delay_after_add == 600.0
    assert config.delay_after_add in config.durations()
