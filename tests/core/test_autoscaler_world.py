"""Small hand-made tenant worlds for the disruption and lifecycle tests (builders only)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from autoscaler.api.policy import IntRange, PoolSettings, Shape, ShapeBounds
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Action, Plan
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    IMAGE_HASH_LABEL,
    POOL_LABEL,
    Host,
    Node,
    Pod,
    PodPhase,
    Pool,
    Snapshot,
    VirtualMachine,
    VMPhase,
)

GI = 2**30
SHAPE = Shape(cpu=4000, memory=16 * GI)
IMAGE = "img-v1"
BOUNDS = ShapeBounds(
    cpu=IntRange(2000, 32000, 2000),
    memory=IntRange(4 * GI, 128 * GI, 2 * GI),
    memory_per_cpu_min=1 * GI,
    memory_per_cpu_max=8 * GI,
)


def pool_settings(**overrides: object) -> PoolSettings:
    base = PoolSettings(
        image="k8s",
        cpu=IntRange(2000, 16000, 2000),
        memory=IntRange(4 * GI, 64 * GI, 2 * GI),
        min_nodes=0,
        max_nodes=20,
        scale_down_unneeded_seconds=600.0,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def make_pool(name: str = "general", image_hash: str = IMAGE, **overrides: object) -> Pool:
    return Pool(
        name=name,
        labels={POOL_LABEL: name},
        settings=pool_settings(**overrides),
        image_hash=image_hash,
    )


def make_node(
    name: str,
    pool: str = "general",
    cpu: int = 4000,
    memory: int = 16 * GI,
    image_hash: str = IMAGE,
    **fields: object,
) -> Node:
    labels = {POOL_LABEL: pool, IMAGE_HASH_LABEL: image_hash, HOSTNAME_LABEL: name}
    return Node(
        name=name,
        allocatable=Resources.of(cpu=cpu, memory=memory, pods=110),
        labels=labels,
        **fields,  # type: ignore[arg-type]
    )


def vm_for(node: Node, **fields: object) -> VirtualMachine:
    values: dict[str, object] = {
        "name": node.name,
        "pool": node.pool or "general",
        "shape": SHAPE,
        "image_hash": node.image_hash or IMAGE,
        "created": node.created,
        "phase": VMPhase.RUNNING,
        "phase_since": node.created,
        "node_name": node.name,
    }
    values.update(fields)
    return VirtualMachine(**values)  # type: ignore[arg-type]


def make_pod(
    name: str,
    node: str | None = None,
    cpu: int = 500,
    memory: int = GI,
    owner_kind: str | None = "ReplicaSet",
    namespace: str = "default",
    **fields: object,
) -> Pod:
    phase = PodPhase.RUNNING if node is not None else PodPhase.PENDING
    values: dict[str, object] = {"phase": phase, "owner_kind": owner_kind, "owner_name": "app"}
    values.update(fields)
    return Pod(
        namespace,
        name,
        requests=Resources.of(cpu=cpu, memory=memory),
        node_name=node,
        **values,  # type: ignore[arg-type]
    )


def pending_pod(name: str, cpu: int = 500, memory: int = GI, **fields: object) -> Pod:
    return make_pod(name, None, cpu, memory, unschedulable=True, **fields)


def world(
    nodes: Sequence[Node] = (),
    pods: Sequence[Pod] = (),
    pools: Sequence[Pool] | None = None,
    vms: Sequence[VirtualMachine] | None = None,
    **fields: object,
) -> Snapshot:
    values: dict[str, object] = {
        "tenant": "team-a",
        "pods": tuple(pods),
        "nodes": tuple(nodes),
        "vms": tuple(vms if vms is not None else [vm_for(n) for n in nodes if n.pool]),
        "pools": tuple(pools if pools is not None else [make_pool()]),
        "hosts": (Host("host-1", Resources.of(cpu=512_000, memory=2048 * GI)),),
        "shape_bounds": BOUNDS,
    }
    values.update(fields)
    return Snapshot(**values)  # type: ignore[arg-type]


def of_type(plan: Plan, kind: type) -> list[Action]:
    return [a for a in plan.actions if isinstance(a, kind)]


def names(actions: Iterable[object], attribute: str = "node") -> list[object]:
    return [getattr(a, attribute) for a in actions]
