"""Boot phase durations and scale-up latency from successive observations."""

from __future__ import annotations

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.controller.boot import BootTracker
from autoscaler.core.lifecycle import LaunchPhase
from autoscaler.core.model import Node, VirtualMachine, VMPhase

SHAPE = Shape(2000, 2**32)


def vm(phase: VMPhase, since: float = 0.0) -> VirtualMachine:
    return VirtualMachine(
        "vm-1", "general", SHAPE, "h", created=2.0, phase=phase, phase_since=since
    )


def node(ready: bool) -> dict[str, Node]:
    return {"vm-1": Node("vm-1", Resources.of(cpu=2000), ready=ready)}


def test_each_phase_change_reports_the_time_spent_in_the_previous_phase() -> None:
    tracker = BootTracker()
    tracker.launched("vm-1", pending_since=5.0)
    assert tracker.observe([vm(VMPhase.PENDING)], {}, 10.0) == ([], [])
    spent, _ = tracker.observe([vm(VMPhase.RUNNING)], {}, 30.0)
    assert [(s.phase, s.seconds) for s in spent] == [(LaunchPhase.PENDING, 28.0)]
    spent, done = tracker.observe([vm(VMPhase.RUNNING)], node(ready=True), 45.0)
    assert [(s.phase, s.seconds) for s in spent] == [(LaunchPhase.REGISTERING, 15.0)]
    assert [(d.pool, d.seconds) for d in done] == [("general", 40.0)]
    assert tracker.observe([vm(VMPhase.RUNNING)], node(ready=True), 50.0) == ([], [])


def test_a_vm_gone_while_launching_reports_its_last_phase_without_latency() -> None:
    tracker = BootTracker()
    tracker.launched("vm-1", pending_since=0.0)
    tracker.observe([vm(VMPhase.RUNNING, since=2.0)], {}, 3.0)
    tracker.forget("vm-1")
    spent, done = tracker.observe([], {}, 10.0)
    assert [(s.phase, s.seconds) for s in spent] == [(LaunchPhase.REGISTERING, 8.0)]
    assert done == []
    assert tracker.phase_of("vm-1") is None
