"""The one per-node overhead model: what a VM shape leaves for pods, and what it costs a host.

Sizing, scale-down and the simulator all use these functions, so that a VM planned for a set
of pods reports, once it is a Node, exactly the allocatable the plan assumed.

Guest side (the tenant's Node): allocatable = shape - kube-reserved/system-reserved - eviction
threshold, using GKE's published tiered formula (cloud.google.com/kubernetes-engine/docs/
concepts/plan-node-sizes). Host side (the management cluster): a VM costs its shape plus the
virt-launcher pod's overhead, estimated after KubeVirt's ``GetMemoryOverhead``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from functools import lru_cache
from math import ceil
from typing import Final

from autoscaler.api.policy import Shape
from autoscaler.api.resources import CPU, EPHEMERAL_STORAGE, MEMORY, PODS, Resources
from autoscaler.core.model import DaemonSet, Taint
from autoscaler.core.predicates import selector_mismatch, taint_mismatch
from autoscaler.core.unmodelled import placement_unknowns

MI: Final = 2**20
GI: Final = 2**30

DEFAULT_MAX_PODS: Final = 110
DEFAULT_DISK_BYTES: Final = 50 * GI
"""The root disk of a worker VM, which backs the node's ephemeral-storage."""
EVICTION_MEMORY_BYTES: Final = 100 * MI
"""kubelet's default hard eviction threshold ``memory.available<100Mi``."""
EVICTION_NODEFS_PERCENT: Final = 10
"""kubelet's default hard eviction threshold ``nodefs.available<10%``."""

# GKE's tiers as (upper bound of the tier, fraction reserved of the part inside the tier).
_CPU_TIERS: Final = (
    (1000, Fraction(6, 100)),
    (2000, Fraction(1, 100)),
    (4000, Fraction(5, 1000)),
    (None, Fraction(25, 10000)),
)
_MEMORY_TIERS: Final = (
    (4 * GI, Fraction(25, 100)),
    (8 * GI, Fraction(20, 100)),
    (16 * GI, Fraction(10, 100)),
    (128 * GI, Fraction(6, 100)),
    (None, Fraction(2, 100)),
)
_SMALL_MACHINE_MEMORY_RESERVED: Final = 255 * MI  # GKE: machines with less than 1 GiB

# KubeVirt virt-launcher overhead. The memory estimate approximates GetMemoryOverhead in
# pkg/virt-controller/services/renderresources.go: the static part covers virt-launcher,
# virtqemud, virtlogd and QEMU itself; each vCPU adds about 8Mi of QEMU thread and vCPU state;
# page tables, the IOThread and video RAM scale with the guest, about 1% of its memory.
LAUNCHER_STATIC_MEMORY_BYTES: Final = 180 * MI
LAUNCHER_MEMORY_PER_VCPU_BYTES: Final = 8 * MI
LAUNCHER_MEMORY_PERCENT_OF_GUEST: Final = 1
LAUNCHER_CPU_MILLICORES: Final = 100  # the virt-launcher compute container's own request


def _tiered(amount: int, tiers: Sequence[tuple[int | None, Fraction]]) -> int:
    reserved = Fraction(0)
    lower = 0
    for upper, rate in tiers:
        top = amount if upper is None else min(amount, upper)
        if top <= lower:
            break
        reserved += (top - lower) * rate
        lower = top
    return ceil(reserved)


def vcpus(shape: Shape) -> int:
    return -(-shape.cpu // 1000)


@lru_cache(maxsize=8192)
def kubelet_reserved(shape: Shape) -> Resources:
    """kube-reserved + system-reserved + the memory eviction threshold, for a VM shape."""
    if shape.memory < GI:
        memory = _SMALL_MACHINE_MEMORY_RESERVED
    else:
        memory = _tiered(shape.memory, _MEMORY_TIERS)
    return Resources({CPU: _tiered(shape.cpu, _CPU_TIERS), MEMORY: memory + EVICTION_MEMORY_BYTES})


@lru_cache(maxsize=8192)
def node_allocatable(
    shape: Shape, max_pods: int = DEFAULT_MAX_PODS, disk_bytes: int = DEFAULT_DISK_BYTES
) -> Resources:
    """What the Node of a VM of this shape reports as allocatable."""
    reserved = kubelet_reserved(shape)
    storage = disk_bytes - disk_bytes * EVICTION_NODEFS_PERCENT // 100
    return Resources(
        {
            CPU: max(0, shape.cpu - reserved.cpu),
            MEMORY: max(0, shape.memory - reserved.memory),
            PODS: max_pods,
            EPHEMERAL_STORAGE: storage,
        }
    )


def virt_launcher_overhead(shape: Shape) -> Resources:
    """Host resources a VM takes beyond its guest's cpu and memory."""
    memory = (
        LAUNCHER_STATIC_MEMORY_BYTES
        + LAUNCHER_MEMORY_PER_VCPU_BYTES * vcpus(shape)
        + -(-shape.memory * LAUNCHER_MEMORY_PERCENT_OF_GUEST // 100)
    )
    return Resources({CPU: LAUNCHER_CPU_MILLICORES, MEMORY: memory})


@lru_cache(maxsize=8192)
def host_footprint(shape: Shape) -> Resources:
    """What a bare-metal host gives a VM of this shape: the shape plus launcher overhead."""
    return virt_launcher_overhead(shape) + {CPU: shape.cpu, MEMORY: shape.memory}


def daemonset_overhead(
    labels: Mapping[str, str], taints: Sequence[Taint], daemonsets: Sequence[DaemonSet]
) -> Resources:
    """The requests (and pod slots) of the DaemonSet pods that would land on such a node."""
    total: dict[str, int] = {}
    for daemonset in daemonsets:
        template = daemonset.template
        # A template whose placement cannot be fully read is counted everywhere: too much
        # overhead costs a little room, too little a VM its DaemonSet pods do not fit.
        unknown = template.unmodelled and placement_unknowns(template)
        if not unknown and (
            selector_mismatch(template, labels) or taint_mismatch(template, taints)
        ):
            continue
        for name, amount in template.requests.items():
            total[name] = total.get(name, 0) + amount
        total[PODS] = total.get(PODS, 0) + 1
    return Resources(total)
