"""What capacity costs, in one unit for every comparison of VMs and shapes."""

from __future__ import annotations

from typing import Final

# Memory that weighs as much as one vCPU.
MEMORY_PER_VCPU_EQUIVALENT: Final = 4 * 2**30


def vcpu_equivalents(cpu_millicores: int | float, memory_bytes: int | float) -> float:
    """What capacity costs, in vCPU-equivalents: 4Gi of memory weigh as one vCPU."""
    return cpu_millicores / 1000 + memory_bytes / MEMORY_PER_VCPU_EQUIVALENT
