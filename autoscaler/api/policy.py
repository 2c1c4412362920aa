"""The validated, unit-normalised policy that the core consumes.

The pydantic CRD models and the annotation parser produce these plain frozen values; the core
never sees raw strings. cpu is in millicores and memory in bytes throughout.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True, slots=True)
class IntRange:
    """An inclusive range ``[min, max]`` of values on a grid ``min + k * step``."""

    min: int
    max: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.step <= 0 or self.min > self.max or self.min < 0:
            raise ValueError(f"invalid range {self.min}..{self.max} step {self.step}")

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max and (value - self.min) % self.step == 0

    def round_up(self, value: int) -> int | None:
        """The smallest grid value that is at least ``value``, or None above ``max``."""
        if value <= self.min:
            return self.min
        steps = -(-(value - self.min) // self.step)
        result = self.min + steps * self.step
        return result if result <= self.max else None

    def round_down(self, value: int) -> int | None:
        """The largest grid value that is at most ``value``, or None below ``min``."""
        if value < self.min:
            return None
        result = self.min + ((min(value, self.max) - self.min) // self.step) * self.step
        return result

    def intersect(self, other: IntRange) -> IntRange | None:
        """The values on this range's grid that ``other``'s bounds also allow."""
        low = self.round_up(max(self.min, other.min))
        high = self.round_down(min(self.max, other.max))
        if low is None or high is None or low > high:
            return None
        return IntRange(low, high, self.step)


@dataclass(frozen=True, slots=True, order=True)
class Shape:
    """A VM's size: vCPUs in millicores (whole cores in practice) and memory in bytes."""

    cpu: int
    memory: int

    def __str__(self) -> str:
        return f"{self.cpu / 1000:g}cpu-{self.memory / 2**30:g}Gi"


@dataclass(frozen=True, slots=True)
class ShapeBounds:
    """What the platform team allows for any VM of a tenant (TenantCluster ``spec.shapes``)."""

    cpu: IntRange
    memory: IntRange
    memory_per_cpu_min: int  # bytes per whole core
    memory_per_cpu_max: int

    def allows(self, shape: Shape) -> bool:
        if not (self.cpu.contains(shape.cpu) and self.memory.contains(shape.memory)):
            return False
        return (
            self.memory_per_cpu_min * shape.cpu
            <= shape.memory * 1000
            <= self.memory_per_cpu_max * shape.cpu
        )


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """Tenant-wide quota over all its VMs; None means unlimited."""

    vms: int | None = None
    cpu: int | None = None  # millicores
    memory: int | None = None  # bytes


@dataclass(frozen=True, slots=True)
class DataVolumeSource:
    source_namespace: str
    source_name: str
    size: int  # bytes
    storage_class: str | None = None


@dataclass(frozen=True, slots=True)
class ImageSource:
    """One entry of a TenantCluster's image allow-list."""

    name: str
    container_disk: str | None = None
    data_volume: DataVolumeSource | None = None

    @property
    def digest(self) -> str:
        """A short stable hash of what the image is, used to detect drift."""
        if self.container_disk is not None:
            identity = f"containerDisk:{self.container_disk}"
        elif self.data_volume is not None:
            dv = self.data_volume
            identity = f"dataVolume:{dv.source_namespace}/{dv.source_name}:{dv.size}"
        else:
            identity = f"name:{self.name}"
        return hashlib.sha256(identity.encode()).hexdigest()[:10]


class BudgetKind(Enum):
    COUNT = "count"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class DisruptionBudget:
    """How many nodes of a pool may be disrupted at once (``kvpool.io/disruption-budget``)."""

    kind: BudgetKind = BudgetKind.PERCENT
    value: int = 10

    def allowed(self, pool_nodes: int) -> int:
        """Nodes that may be disrupted now; a percentage rounds up so a pool can always move."""
        if self.kind is BudgetKind.COUNT:
            return self.value
        if self.value == 0 or pool_nodes == 0:
            return 0
        return max(1, -(-pool_nodes * self.value // 100))


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """A NodePool's autoscaling knobs, parsed from its annotations and checked against bounds."""

    image: str
    cpu: IntRange
    memory: IntRange
    min_nodes: int = 0
    max_nodes: int = 10
    scale_down_unneeded_seconds: float = 600.0
    scale_down_utilization_threshold: float = 0.5
    expire_after_seconds: float | None = None  # None: never expires
    disruption_budget: DisruptionBudget = field(default_factory=DisruptionBudget)
    scale_down_enabled: bool = True
    weight: int = 0  # higher is preferred when several pools can host a pod
