"""Seeded benchmark worlds: one tenant with many pending pods, busy nodes and roomy hosts.

Pods come from a few dozen templates, as real Deployments and Jobs produce them: small web
pods, large batch pods and memory-heavy pods. Existing nodes are partly full with running pods
of the same templates, so some pending pods fit there and the rest need new VMs.

The ``unique`` worlds give every pending pod its own requests (its template's, scaled by a
seeded factor between 0.5 and 1.5), as a vertical pod autoscaler does: no two pods are
equivalent, so the planner cannot place them in bulk.

A constrained world gives nodes and hosts zones and gives groups of pods (running and
pending alike) the constraints of kube-scheduler's cluster-wide filters: a fifth spread by
zone or hostname (maxSkew 1, DoNotSchedule), a tenth with required hostname anti-affinity.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds, TenantLimits
from autoscaler.api.resources import Resources
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    POOL_LABEL,
    DaemonSet,
    Host,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    Pool,
    Snapshot,
    Toleration,
    TopologySpreadConstraint,
)
from autoscaler.core.overhead import GI, MI, node_allocatable

BOUNDS: Final = ShapeBounds(
    cpu=IntRange(2000, 32000, 2000),
    memory=IntRange(4 * GI, 128 * GI, 2 * GI),
    memory_per_cpu_min=1 * GI,
    memory_per_cpu_max=8 * GI,
)
FIXED_SHAPE: Final = Shape(8000, 32 * GI)
"""The one node size of the baseline: what a cluster-autoscaler node group would use."""

EXISTING_SHAPES: Final = (Shape(8000, 32 * GI), Shape(16000, 64 * GI), Shape(16000, 32 * GI))


@dataclass(frozen=True, slots=True)
class BenchScenario:
    name: str
    pending_pods: int
    nodes: int
    runs: int = 5
    unique: bool = False  # every pending pod has its own requests
    constrained: bool = False  # zones, topology spread and anti-affinity (see module doc)


SCENARIOS: Final = {
    s.name: s
    for s in (
        BenchScenario("1k-pods-100-nodes", 1_000, 100, runs=7),
        BenchScenario("10k-pods-2k-nodes", 10_000, 2_000, runs=5),
        BenchScenario("10k-constrained-2k-nodes", 10_000, 2_000, runs=5, constrained=True),
        BenchScenario("50k-pods-5k-nodes", 50_000, 5_000, runs=3),
        BenchScenario("1k-unique-200-nodes", 1_000, 200, runs=7, unique=True),
        BenchScenario("10k-unique-2k-nodes", 10_000, 2_000, runs=5, unique=True),
        BenchScenario("50k-unique-5k-nodes", 50_000, 5_000, runs=3, unique=True),
    )
}


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    kind: str  # web, batch or memory
    requests: Resources
    owner_kind: str


@dataclass(frozen=True, slots=True)
class BenchWorld:
    scenario: BenchScenario
    snapshot: Snapshot
    pools: tuple[Pool, ...]


def templates(rng: random.Random) -> list[Template]:
    """A few dozen distinct pod templates."""
    result = []
    for i in range(20):
        cpu = rng.choice((100, 200, 250, 300, 500))
        memory = rng.choice((128, 256, 512, 768, 1024)) * MI
        result.append(Template(f"web-{i}", "web", Resources.of(cpu, memory), "ReplicaSet"))
    for i in range(8):
        cpu = rng.choice((2000, 3000, 4000, 6000, 8000))
        memory = rng.choice((4, 6, 8, 12, 16)) * GI
        result.append(Template(f"batch-{i}", "batch", Resources.of(cpu, memory), "Job"))
    for i in range(8):
        cpu = rng.choice((1000, 1500, 2000))
        memory = rng.choice((8, 12, 16, 24, 32)) * GI
        result.append(Template(f"mem-{i}", "memory", Resources.of(cpu, memory), "StatefulSet"))
    return result


_KIND_WEIGHTS: Final = {"web": 0.6, "batch": 0.2, "memory": 0.2}


def _pick(rng: random.Random, catalogue: list[Template]) -> Template:
    kind = rng.choices(list(_KIND_WEIGHTS), weights=list(_KIND_WEIGHTS.values()))[0]
    return rng.choice([t for t in catalogue if t.kind == kind])


def _scaled(requests: Resources, rng: random.Random) -> Resources:
    """``requests`` scaled by a factor in [0.5, 1.5): whole millicores and MiB, so that
    no two scaled pods are likely to share requests."""
    return Resources.of(
        cpu=max(1, round(requests.cpu * rng.uniform(0.5, 1.5))),
        memory=max(1, round(requests.memory * rng.uniform(0.5, 1.5) / MI)) * MI,
    )


ZONE_LABEL: Final = "topology.kubernetes.io/zone"
ZONES: Final = ("zone-a", "zone-b", "zone-c")
# A pod group's constraint and its share of the groups of a constrained world.
_CONSTRAINT_WEIGHTS: Final = {"": 0.7, "zone-spread": 0.1, "host-spread": 0.1, "anti": 0.1}


def _constraint(rng: random.Random, constrained: bool) -> str:
    if not constrained:
        return ""
    return rng.choices(list(_CONSTRAINT_WEIGHTS), weights=list(_CONSTRAINT_WEIGHTS.values()))[0]


def _constraint_fields(app: str, kind: str) -> dict[str, object]:
    selector = LabelSelector(match_labels=(("app", app),))
    if kind == "zone-spread":
        return {"topology_spread": (TopologySpreadConstraint(1, ZONE_LABEL, selector),)}
    if kind == "host-spread":
        return {"topology_spread": (TopologySpreadConstraint(1, HOSTNAME_LABEL, selector),)}
    if kind == "anti":
        return {"required_anti_affinity": (PodAffinityTerm(selector, HOSTNAME_LABEL),)}
    return {}


def _pod(
    template: Template,
    index: int,
    requests: Resources | None = None,
    constraint: str = "",
    **fields: object,
) -> Pod:
    app = f"{template.name}-{constraint}" if constraint else template.name
    return Pod(
        namespace=f"team-{template.kind}",
        name=f"{template.name}-{index}",
        uid=f"{template.name}-{index}",
        requests=requests or template.requests,
        labels={"app": app},
        owner_kind=template.owner_kind,
        owner_name=app,
        **_constraint_fields(app, constraint),  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def daemonsets() -> tuple[DaemonSet, ...]:
    everywhere = (Toleration(operator="Exists"),)
    return (
        DaemonSet(
            "kube-system",
            "kube-proxy",
            Pod(
                "kube-system",
                "kube-proxy",
                requests=Resources.of(100, 128 * MI),
                owner_kind="DaemonSet",
                tolerations=everywhere,
            ),
        ),
        DaemonSet(
            "monitoring",
            "node-exporter",
            Pod(
                "monitoring",
                "node-exporter",
                requests=Resources.of(50, 64 * MI),
                owner_kind="DaemonSet",
                node_selector={"kubernetes.io/os": "linux"},
                tolerations=everywhere,
            ),
        ),
    )


def pools() -> tuple[Pool, ...]:
    settings = PoolSettings(
        image="k8s-1.31",
        cpu=IntRange(2000, 32000, 1000),
        memory=IntRange(4 * GI, 128 * GI, 1),
        max_nodes=100_000,
    )
    return (Pool("general", {"pool": "general"}, settings=settings, image_hash="bench0001"),)


def build_world(scenario: BenchScenario, seed: int = 1) -> BenchWorld:
    rng = random.Random(seed)
    catalogue = templates(rng)
    the_pools = pools()
    pool = the_pools[0]
    ds = daemonsets()
    counters = dict.fromkeys((t.name for t in catalogue), 0)

    def next_index(template: Template) -> int:
        counters[template.name] += 1
        return counters[template.name]

    nodes: list[Node] = []
    pods: list[Pod] = []
    for n in range(scenario.nodes):
        name = f"node-{n:05d}"
        shape = rng.choice(EXISTING_SHAPES)
        allocatable = node_allocatable(shape)
        labels = {
            **pool.labels,
            POOL_LABEL: pool.name,
            HOSTNAME_LABEL: name,
            "kubernetes.io/os": "linux",
        }
        if scenario.constrained:
            labels[ZONE_LABEL] = ZONES[n % len(ZONES)]
        nodes.append(Node(name, allocatable, labels))
        used = Resources()
        for daemonset in ds:
            used += daemonset.template.requests
            pods.append(
                Pod(
                    daemonset.namespace,
                    f"{daemonset.name}-{name}",
                    requests=daemonset.template.requests,
                    node_name=name,
                    owner_kind="DaemonSet",
                    phase=PodPhase.RUNNING,
                )
            )
        target = rng.uniform(0.55, 0.9)
        for _ in range(40):
            template = _pick(rng, catalogue)
            after = used + template.requests
            if after.cpu > allocatable.cpu * target or after.memory > allocatable.memory * target:
                continue
            used = after
            constraint = _constraint(rng, scenario.constrained)
            pods.append(
                _pod(
                    template,
                    next_index(template),
                    constraint=constraint,
                    node_name=name,
                    phase=PodPhase.RUNNING,
                )
            )
    for i in range(scenario.pending_pods):
        template = _pick(rng, catalogue)
        requests = _scaled(template.requests, rng) if scenario.unique else None
        constraint = _constraint(rng, scenario.constrained)
        pods.append(
            _pod(
                template,
                next_index(template),
                requests,
                constraint,
                unschedulable=True,
                created=float(i),
            )
        )
    # Roomy hosts: enough for the pending pods several times over, in two sizes.
    hosts = tuple(
        Host(
            f"host-{h:04d}",
            Resources.of(cpu=rng.choice((96_000, 128_000)), memory=rng.choice((512, 768)) * GI),
            labels={ZONE_LABEL: ZONES[h % len(ZONES)]} if scenario.constrained else {},
        )
        for h in range(max(8, scenario.pending_pods // 40))
    )
    snapshot = Snapshot(
        tenant="bench",
        pods=tuple(pods),
        nodes=tuple(nodes),
        vms=(),
        pools=the_pools,
        hosts=hosts,
        shape_bounds=BOUNDS,
        limits=TenantLimits(),
        daemonsets=ds,
    )
    return BenchWorld(scenario, snapshot, the_pools)
