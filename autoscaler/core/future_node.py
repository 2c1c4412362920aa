"""The Node a VM will register as, before it exists: its labels, taints and free capacity.

``future_node(name, pool, allocatable, zone=zone)`` is "a new node of pool P in zone Z": the
pool's template labels and taints, the kubelet's own labels, and the zone's
``topology.kubernetes.io/zone`` and ``/region`` labels (see :mod:`autoscaler.core.zones`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    IMAGE_HASH_LABEL,
    NO_ZONE,
    POOL_LABEL,
    DaemonSet,
    Pod,
    Pool,
    Zone,
)
from autoscaler.core.overhead import daemonset_overhead, node_allocatable
from autoscaler.core.predicates import NodeState

# Labels every kubelet sets on its own Node. Worker images are linux/amd64; a pool whose
# template says otherwise wins.
KUBELET_DEFAULT_LABELS: Final[Mapping[str, str]] = {
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": "amd64",
}


def future_node_labels(
    pool: Pool, name: str, image_hash: str | None = None, zone: Zone = NO_ZONE
) -> dict[str, str]:
    """The labels the Node will register with; ``image_hash`` defaults to the pool's."""
    labels = {
        **KUBELET_DEFAULT_LABELS,
        **pool.labels,
        **zone.labels,
        POOL_LABEL: pool.name,
        HOSTNAME_LABEL: name,
    }
    image_hash = image_hash or pool.image_hash
    if image_hash:
        labels[IMAGE_HASH_LABEL] = image_hash
    return labels


def pool_daemonset_overhead(
    pool: Pool, daemonsets: Sequence[DaemonSet], zone: Zone = NO_ZONE
) -> Resources:
    """What the DaemonSets take on every node of the pool in ``zone``."""
    return daemonset_overhead(future_node_labels(pool, "", zone=zone), pool.taints, daemonsets)


def future_node(
    name: str,
    pool: Pool,
    allocatable: Resources | Shape,
    daemonsets: Sequence[DaemonSet] = (),
    bound_pods: Iterable[Pod] = (),
    image_hash: str | None = None,
    zone: Zone = NO_ZONE,
) -> NodeState:
    """A node of ``pool`` in ``zone`` not registered (or not Ready) yet.

    Its DaemonSet pods are counted as overhead unless some of them are already bound to it.
    The node has no name for ``matchFields`` yet.
    """
    if isinstance(allocatable, Shape):
        allocatable = node_allocatable(allocatable)
    bound = list(bound_pods)
    overhead: Resources = Resources()
    if not any(p.is_daemonset_pod for p in bound):
        overhead = pool_daemonset_overhead(pool, daemonsets, zone)
    return NodeState(
        name,
        allocatable,
        future_node_labels(pool, name, image_hash, zone),
        pool.taints,
        bound,
        used=overhead,
    )
