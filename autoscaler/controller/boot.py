"""Follows each VM through its boot phases, for the phase histograms and scale-up latency.

A VM's launch phase (image provisioned, VMI scheduled, running, Node registered, Node Ready)
comes from the core's lifecycle; every time a VM is seen in a new phase, the time it spent in
the previous one is reported. Scale-up latency runs from the moment the first of a VM's pods
was marked unschedulable to the moment its Node is Ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from autoscaler.core.lifecycle import LAUNCHING_PHASES, LaunchPhase, launch_phase, node_of
from autoscaler.core.model import Node, VirtualMachine


@dataclass(frozen=True, slots=True)
class PhaseSpent:
    vm: str
    pool: str
    phase: LaunchPhase
    seconds: float


@dataclass(frozen=True, slots=True)
class ScaleUpDone:
    vm: str
    pool: str
    seconds: float


@dataclass(slots=True)
class _Seen:
    phase: LaunchPhase
    since: float


class BootTracker:
    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._waiting_since: dict[str, float] = {}  # VM -> when its first pod became pending
        self._pools: dict[str, str] = {}

    def launched(self, vm: str, pending_since: float | None) -> None:
        """A VM was launched for pods pending since ``pending_since`` (None: no pods)."""
        if pending_since is not None:
            self._waiting_since[vm] = pending_since

    def phase_of(self, vm: str) -> LaunchPhase | None:
        seen = self._seen.get(vm)
        return seen.phase if seen is not None else None

    def observe(
        self, vms: Iterable[VirtualMachine], nodes: Mapping[str, Node], now: float
    ) -> tuple[list[PhaseSpent], list[ScaleUpDone]]:
        spent: list[PhaseSpent] = []
        done: list[ScaleUpDone] = []
        present: set[str] = set()
        for vm in vms:
            present.add(vm.name)
            self._pools[vm.name] = vm.pool
            phase = launch_phase(vm, node_of(vm, nodes))
            seen = self._seen.get(vm.name)
            if seen is None:
                self._seen[vm.name] = _Seen(phase, max(vm.created, vm.phase_since, 0.0) or now)
                continue
            if seen.phase == phase:
                continue
            if seen.phase in LAUNCHING_PHASES:
                spent.append(PhaseSpent(vm.name, vm.pool, seen.phase, max(0.0, now - seen.since)))
            self._seen[vm.name] = _Seen(phase, now)
            if phase is LaunchPhase.READY:
                since = self._waiting_since.pop(vm.name, None)
                if since is not None:
                    done.append(ScaleUpDone(vm.name, vm.pool, max(0.0, now - since)))
        for gone in set(self._seen) - present:
            # A VM deleted on its way up (a deadline passed) spent this long in its last phase.
            last = self._seen.pop(gone)
            if last.phase in LAUNCHING_PHASES:
                spent.append(
                    PhaseSpent(gone, self._pools.get(gone, ""), last.phase, now - last.since)
                )
            self._pools.pop(gone, None)
            self._waiting_since.pop(gone, None)
        return spent, done

    def forget(self, vm: str) -> None:
        """The VM is being deleted: it no longer waits to become a node for pending pods."""
        self._waiting_since.pop(vm, None)
