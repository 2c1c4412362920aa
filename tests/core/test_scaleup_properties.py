"""Properties of scale-up plans on random small worlds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Verdict
from autoscaler.core.future_node import future_node
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    POOL_LABEL,
    DaemonSet,
    Host,
    HostPort,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Pool,
    Snapshot,
    Taint,
    TaintEffect,
    Toleration,
    VirtualMachine,
    VMPhase,
)
from autoscaler.core.overhead import GI, MI, host_footprint
from autoscaler.core.pending import pending_pods
from autoscaler.core.predicates import NodeState
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.scheduling import bound_pods_by_node

BOUNDS = (
    ShapeBounds(IntRange(2000, 32000, 2000), IntRange(4 * GI, 128 * GI, 2 * GI), GI, 8 * GI),
    ShapeBounds(IntRange(1000, 8000, 1000), IntRange(2 * GI, 32 * GI, GI), 2 * GI, 4 * GI),
)
LAUNCHING_SHAPES = (Shape(2000, 4 * GI), Shape(4000, 16 * GI))
TAINT = Taint("dedicated", TaintEffect.NO_SCHEDULE, "batch")


@st.composite
def worlds(draw: st.DrawFn) -> Snapshot:
    pools = []
    for index in range(draw(st.integers(1, 2))):
        max_nodes = draw(st.integers(0, 6))
        pool_settings = PoolSettings(
            image="img",
            cpu=IntRange(
                draw(st.sampled_from([1000, 2000, 4000])),
                draw(st.sampled_from([8000, 16000, 32000])),
                1000,
            ),
            memory=IntRange(
                draw(st.sampled_from([2, 4])) * GI, draw(st.sampled_from([16, 64, 128])) * GI, 1
            ),
            min_nodes=draw(st.integers(0, min(2, max_nodes))),
            max_nodes=max_nodes,
            weight=draw(st.integers(0, 2)),
        )
        taints = (TAINT,) if index == 1 and draw(st.booleans()) else ()
        pools.append(
            Pool(f"pool{index}", {"pool": f"pool{index}"}, taints, pool_settings, image_hash="h")
        )
    daemonsets = tuple(
        DaemonSet(
            "kube-system",
            f"ds{i}",
            Pod(
                "kube-system",
                f"ds{i}",
                requests=Resources.of(draw(st.sampled_from([50, 200])), 64 * MI),
                owner_kind="DaemonSet",
                node_selector=draw(st.sampled_from([{}, {"pool": "pool0"}])),
            ),
        )
        for i in range(draw(st.integers(0, 2)))
    )
    spread = (PodAffinityTerm(LabelSelector(match_labels=(("app", "spread"),))),)
    templates = []
    for t in range(draw(st.integers(1, 4))):
        anti = draw(st.booleans())
        templates.append(
            {
                "requests": Resources.of(
                    draw(st.sampled_from([100, 500, 1000, 3000, 7000])),
                    draw(st.sampled_from([128 * MI, GI, 4 * GI, 20 * GI])),
                ),
                "node_selector": draw(
                    st.sampled_from([{}, {"pool": "pool0"}, {"pool": "pool1"}, {"disk": "ssd"}])
                ),
                "tolerations": (Toleration("dedicated", "Exists"),) if draw(st.booleans()) else (),
                "labels": {"app": "spread" if anti else f"t{t}"},
                "required_anti_affinity": spread if anti else (),
                "host_ports": (HostPort(9000),) if draw(st.integers(0, 5)) == 0 else (),
            }
        )
    pods = [
        Pod("ns", f"p{i}", unschedulable=True, **draw(st.sampled_from(templates)))  # type: ignore[arg-type]
        for i in range(draw(st.integers(0, 25)))
    ]
    nodes = []
    for n in range(draw(st.integers(0, 3))):
        pool = draw(st.sampled_from(pools))
        name = f"node{n}"
        labels = {**pool.labels, POOL_LABEL: pool.name, HOSTNAME_LABEL: name}
        nodes.append(
            Node(
                name,
                Resources.of(draw(st.sampled_from([2000, 8000])), 8 * GI, 110),
                labels,
                pool.taints,
                ready=draw(st.booleans()) or n == 0,
            )
        )
        pods.append(
            Pod(
                "ns",
                f"running{n}",
                requests=Resources.of(draw(st.sampled_from([500, 1500])), GI),
                node_name=name,
                phase=PodPhase.RUNNING,
            )
        )
    vms = [
        VirtualMachine(
            f"vm{v}",
            draw(st.sampled_from(pools)).name,
            draw(st.sampled_from(LAUNCHING_SHAPES)),
            "h",
            0.0,
            VMPhase.PENDING,
        )
        for v in range(draw(st.integers(0, 2)))
    ]
    hosts = tuple(
        Host(
            f"host{h}",
            Resources.of(
                draw(st.sampled_from([4000, 16000, 64000])),
                draw(st.sampled_from([8, 32, 256])) * GI,
            ),
        )
        for h in range(draw(st.integers(0, 3)))
    )
    limits = TenantLimits(
        vms=draw(st.one_of(st.none(), st.integers(0, 6))),
        cpu=draw(st.one_of(st.none(), st.sampled_from([8000, 40000]))),
        memory=draw(st.one_of(st.none(), st.sampled_from([16 * GI, 200 * GI]))),
    )
    return Snapshot(
        "t",
        tuple(pods),
        tuple(nodes),
        tuple(vms),
        tuple(pools),
        hosts,
        draw(st.sampled_from(BOUNDS)),
        limits,
        daemonsets,
    )


def _check_sequence(state: NodeState, pods: list[Pod]) -> None:
    for pod in pods:
        assert state.fit_failure(pod) is None, (state.name, pod.key, state.fit_failure(pod))
        state.add(pod)


@given(worlds())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_plans_are_sound(snapshot: Snapshot) -> None:
    result = plan_scale_up(snapshot, snapshot.pools)
    assert result == plan_scale_up(snapshot, snapshot.pools)  # deterministic

    pending = {p.key: p for p in pending_pods(snapshot.pods)}
    pools = {p.name: p for p in snapshot.pools}
    bound = bound_pods_by_node(snapshot.pods)

    # Pods placed on existing or launching nodes fit there, in the order they were placed.
    by_target: dict[str, list[Pod]] = {}
    for key, target in result.placements.items():
        by_target.setdefault(target, []).append(pending[key])
    nodes = {n.name: n for n in snapshot.nodes}
    vms = {v.name: v for v in snapshot.vms}
    for target, placed in by_target.items():
        if target in nodes and nodes[target].ready:
            state = NodeState.from_node(nodes[target], bound.get(target, ()))
        else:
            vm = vms[target]
            state = future_node(target, pools[vm.pool], vm.shape, snapshot.daemonsets)
        _check_sequence(state, placed)

    # New VMs: shapes inside the pool's and the tenant's bounds, pods fit, hosts hold.
    host_use: dict[str, Resources] = {}
    per_pool: dict[str, int] = {}
    cpu = sum(v.shape.cpu for v in snapshot.vms)
    memory = sum(v.shape.memory for v in snapshot.vms)
    for index, launch in enumerate(result.launches):
        pool = pools[launch.pool]
        assert pool.settings is not None
        assert snapshot.shape_bounds.allows(launch.shape)
        assert pool.settings.cpu.contains(launch.shape.cpu)
        assert pool.settings.memory.contains(launch.shape.memory)
        state = future_node(f"new{index}", pool, launch.shape, snapshot.daemonsets)
        _check_sequence(state, [pending[k] for k in launch.pods])
        assert launch.host is not None
        host_use[launch.host] = host_use.get(launch.host, Resources()) + host_footprint(
            launch.shape
        )
        per_pool[launch.pool] = per_pool.get(launch.pool, 0) + 1
        cpu += launch.shape.cpu
        memory += launch.shape.memory
    for host in snapshot.hosts:
        assert host_use.get(host.name, Resources()).fits_in(host.free)
    limits = snapshot.limits
    assert (
        limits.vms is None
        or not result.launches
        or len(snapshot.vms) + len(result.launches) <= limits.vms
    )
    assert limits.cpu is None or not result.launches or cpu <= limits.cpu
    assert limits.memory is None or not result.launches or memory <= limits.memory
    for name, added in per_pool.items():
        settings_ = pools[name].settings
        assert settings_ is not None
        existing = sum(1 for v in snapshot.vms if v.pool == name) + sum(
            1 for n in snapshot.nodes if n.pool == name
        )
        assert existing + added <= max(settings_.max_nodes, existing)

    # Every pending pod is placed, sized into a VM, or explained; never two of these.
    in_vms = [k for launch in result.launches for k in launch.pods]
    assert len(in_vms) == len(set(in_vms))
    assert not set(in_vms) & set(result.placements)
    assert sum(e.pods for e in result.explanations) == len(pending)
    explained = {e.verdict: 0 for e in result.explanations}
    for e in result.explanations:
        explained[e.verdict] += e.pods
        assert len(e.sample) == min(3, e.pods) and set(e.sample) <= set(pending)
    assert explained.get(Verdict.NEW_VM, 0) == len(in_vms)
    settled = explained.get(Verdict.FITS_EXISTING, 0) + explained.get(Verdict.FITS_LAUNCHING, 0)
    assert settled == len(result.placements)
