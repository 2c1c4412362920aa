"""Typed actions: the only output of a decision. The actuator executes them idempotently."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from autoscaler.api.policy import Shape
from autoscaler.core.model import NO_ZONE, Zone


class Reason(StrEnum):
    """Why an action was taken; also used as a metric label, so the set is closed."""

    PENDING_PODS = "PendingPods"
    MIN_NODES = "MinNodes"
    EMPTY = "Empty"
    UNDERUTILIZED = "Underutilized"
    DRIFTED = "Drifted"
    EXPIRED = "Expired"
    LAUNCH_TIMEOUT = "LaunchTimeout"
    BOOT_FAILED = "BootFailed"
    UNHEALTHY = "Unhealthy"  # a node that was Ready once stayed NotReady too long
    ORPHANED = "Orphaned"
    OVER_MAX = "OverMax"
    DRAIN_TIMEOUT = "DrainTimeout"
    SCALE_DOWN_ABORTED = "ScaleDownAborted"


@dataclass(frozen=True, slots=True)
class LaunchVM:
    pool: str
    shape: Shape
    image: str  # the allow-list name
    image_hash: str
    reason: Reason
    host: str | None = None  # the host the plan packed this VM onto (a hint, not a binding)
    pods: tuple[str, ...] = ()  # keys of the pending pods this VM was sized for
    detail: str = ""
    zone: Zone = NO_ZONE  # the VM is pinned to this zone's hosts; its Node gets its labels
    replaces: tuple[str, ...] = ()  # nodes drained once this VM is up (consolidation)


@dataclass(frozen=True, slots=True)
class CordonNode:
    node: str
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class UncordonNode:
    node: str
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DrainNode:
    """Evict the node's pods through the Eviction API (PDBs hold); the node stays cordoned."""

    node: str
    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DeleteVM:
    """Delete a VM and, if it registered, its Node."""

    vm: str
    reason: Reason
    node: str | None = None
    detail: str = ""


Action = LaunchVM | CordonNode | UncordonNode | DrainNode | DeleteVM


class Verdict(StrEnum):
    """What the plan does for a group of pending pods."""

    FITS_EXISTING = "FitsExisting"
    FITS_LAUNCHING = "FitsLaunching"
    NEW_VM = "NewVM"
    NO_POOL_MATCHES = "NoPoolMatches"
    # Its volumes keep it off every node for now (a claim missing or waiting for binding, a
    # ReadWriteOncePod claim in use): no new VM would help.
    VOLUME_BLOCKED = "VolumeBlocked"
    EXCEEDS_LARGEST_SHAPE = "ExceedsLargestShape"
    HOSTS_FULL = "HostsFull"
    TENANT_LIMIT_REACHED = "TenantLimitReached"
    POOL_AT_MAX = "PoolAtMax"
    # Topology spread or inter-pod affinity refuse even an empty new node of the pool.
    CONSTRAINTS_UNSATISFIED = "ConstraintsUnsatisfied"
    POOL_INVALID = "PoolInvalid"
    BACKING_OFF = "BackingOff"
    # The pod has a field the model cannot read that bears on where it may run: planning
    # it as if the field were absent could launch a VM it cannot use, so it is not planned.
    UNMODELLED = "Unmodelled"


@dataclass(frozen=True, slots=True)
class Explanation:
    """What happens to one group of equivalent pending pods, and why."""

    verdict: Verdict
    pods: int
    sample: tuple[str, ...]  # a few pod keys, for messages
    pool: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = ()
    explanations: tuple[Explanation, ...] = ()
    # Pool name -> condition message for pools that cannot act (invalid, backing off, at max).
    pool_messages: tuple[tuple[str, str], ...] = field(default=())
