"""Which VMs the kubevirt agent lets fail, decided per VM name so that runs repeat exactly."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

NamePredicate = Callable[[str], bool]


def draw(seed: int, purpose: str, name: str) -> float:
    """A number in [0, 1) that depends only on its arguments (not on the order of events)."""
    digest = hashlib.sha256(f"{seed}\0{purpose}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True, slots=True)
class FailureInjection:
    """A fraction of the VMs, or those a predicate on the name picks, that stop on the way.

    ``never_running``: the VMI is scheduled on a host but never reaches Running.
    ``never_registers``: the VMI runs but its Node never joins the tenant.
    """

    never_running: float = 0.0
    never_registers: float = 0.0
    never_running_if: NamePredicate | None = None
    never_registers_if: NamePredicate | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("never_running", "never_registers"):
            fraction = getattr(self, name)
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{name} must be a fraction in [0, 1], not {fraction!r}")

    def stops_before_running(self, vm_name: str) -> bool:
        return self._picks(vm_name, "running", self.never_running, self.never_running_if)

    def stops_before_registering(self, vm_name: str) -> bool:
        return self._picks(vm_name, "register", self.never_registers, self.never_registers_if)

    def _picks(
        self, name: str, purpose: str, fraction: float, predicate: NamePredicate | None
    ) -> bool:
        if predicate is not None and predicate(name):
            return True
        return fraction > 0 and draw(self.seed, purpose, name) < fraction


NO_FAILURES = FailureInjection()
