"""VM launch phases, their deadlines, failures, orphans and the per-pool backoff."""

from __future__ import annotations

import pytest
from test_autoscaler_world import SHAPE, make_node, make_pool, world

from autoscaler.core.actions import DeleteVM, Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.lifecycle import LaunchPhase, Lifecycle, launch_phase
from autoscaler.core.model import Pool, VirtualMachine, VMPhase
from autoscaler.core.timers import KeyedBackoff, format_duration

CONFIG = CoreConfig()


def launching_vm(
    name: str = "vm-1", phase: VMPhase = VMPhase.PENDING, since: float = 0.0, **fields: object
) -> VirtualMachine:
    values: dict[str, object] = {
        "name": name,
        "pool": "general",
        "shape": SHAPE,
        "image_hash": "img-v1",
        "created": 0.0,
        "phase": phase,
        "phase_since": since,
    }
    values.update(fields)
    return VirtualMachine(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("phase", "deadline", "named"),
    [
        (VMPhase.PROVISIONING, CONFIG.provisioning_deadline, "Provisioning"),
        (VMPhase.PENDING, CONFIG.pending_deadline, "Pending"),
        (VMPhase.SCHEDULED, CONFIG.scheduled_deadline, "Scheduled"),
        (VMPhase.RUNNING, CONFIG.registration_deadline, "Registering"),
    ],
)
def test_each_vm_phase_times_out_at_its_own_deadline(
    phase: VMPhase, deadline: float, named: str
) -> None:
    lifecycle = Lifecycle(CONFIG)
    snapshot = world(vms=[launching_vm(phase=phase, since=100.0)])

    assert lifecycle.step(snapshot, 100.0 + deadline).actions == ()
    actions = lifecycle.step(snapshot, 100.0 + deadline + 1).actions

    assert len(actions) == 1
    action = actions[0]
    assert action.reason is Reason.LAUNCH_TIMEOUT
    assert action.vm == "vm-1"
    assert f"phase {named}" in action.detail
    assert format_duration(deadline + 1) in action.detail
    assert lifecycle.backoff_remaining("general", 100.0 + deadline + 1) == CONFIG.backoff_base


def test_a_registered_node_that_never_gets_ready_times_out_from_when_it_was_first_seen() -> None:
    lifecycle = Lifecycle(CONFIG)
    node = make_node("vm-1", ready=False)
    vm = launching_vm(phase=VMPhase.RUNNING, since=0.0, node_name="vm-1")
    snapshot = world([node], vms=[vm])

    # Long past the VM's phase_since: the not-ready clock starts when the core sees the node.
    assert lifecycle.step(snapshot, 1000.0).actions == ()
    assert lifecycle.step(snapshot, 1000.0 + CONFIG.node_ready_deadline).actions == ()
    actions = lifecycle.step(snapshot, 1001.0 + CONFIG.node_ready_deadline).actions

    assert [(a.reason, a.node) for a in actions] == [(Reason.LAUNCH_TIMEOUT, "vm-1")]
    assert "phase NodeNotReady" in actions[0].detail


def test_a_node_that_was_ready_once_is_not_a_launch_any_more() -> None:
    lifecycle = Lifecycle(CONFIG)
    vm = launching_vm(phase=VMPhase.RUNNING, node_name="vm-1")
    lifecycle.step(world([make_node("vm-1")], vms=[vm]), 10.0)
    not_ready = world([make_node("vm-1", ready=False)], vms=[vm])

    assert lifecycle.step(not_ready, 20.0).actions == ()
    assert lifecycle.step(not_ready, 20.0 + 10 * CONFIG.node_ready_deadline).actions == ()


def test_failed_vm_is_deleted_with_its_node_and_counts_once_for_backoff() -> None:
    lifecycle = Lifecycle(CONFIG)
    node = make_node("vm-1", ready=False)
    snapshot = world([node], vms=[launching_vm(phase=VMPhase.FAILED, node_name="vm-1")])

    first = lifecycle.step(snapshot, 50.0).actions
    again = lifecycle.step(snapshot, 55.0).actions

    assert first == again
    assert [(a.reason, a.node) for a in first] == [(Reason.BOOT_FAILED, "vm-1")]
    state = lifecycle.backoff.state("general")
    assert state is not None and state.failures == 1


def test_backoff_doubles_per_failure_up_to_the_cap_and_resets_on_a_ready_node() -> None:
    config = CoreConfig(backoff_base=30.0, backoff_max=100.0)
    lifecycle = Lifecycle(config)
    now = 0.0
    remaining = []
    for index in range(4):
        now += 1000.0
        failed = launching_vm(f"vm-{index}", phase=VMPhase.FAILED)
        lifecycle.step(world(vms=[failed]), now)
        remaining.append(lifecycle.backoff_remaining("general", now))
    assert remaining == [30.0, 60.0, 100.0, 100.0]

    # A new VM that goes from launching to a Ready node ends the backoff.
    launching = launching_vm("vm-ok", phase=VMPhase.SCHEDULED, since=now)
    lifecycle.step(world(vms=[launching]), now + 1)
    assert lifecycle.backoff_remaining("general", now + 1) > 0
    ready = launching_vm("vm-ok", phase=VMPhase.RUNNING, node_name="vm-ok")
    lifecycle.step(world([make_node("vm-ok")], vms=[ready]), now + 2)
    assert lifecycle.backoff_remaining("general", now + 2) == 0.0


def test_backoff_delay_grows_geometrically_without_overflow() -> None:
    backoff = KeyedBackoff(base=30.0, maximum=600.0)
    delays = [backoff.delay(n) for n in range(1, 8)]
    assert delays == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0]
    assert backoff.delay(10_000) == 600.0


def test_vm_of_a_removed_pool_is_orphaned_but_an_invalid_pool_keeps_its_vms() -> None:
    lifecycle = Lifecycle(CONFIG)
    orphan = launching_vm("vm-orphan", phase=VMPhase.RUNNING, pool="gone", node_name="vm-orphan")
    stuck = launching_vm("vm-stuck", phase=VMPhase.PENDING, pool="broken")
    broken = Pool(name="broken", error="kvpool.io/max-nodes: 'x' is not an integer")
    snapshot = world(
        [make_node("vm-orphan", pool="gone")],
        vms=[orphan, stuck],
        pools=[make_pool(), broken],
    )

    actions = lifecycle.step(snapshot, 10 * CONFIG.pending_deadline).actions

    assert actions == (
        DeleteVM(
            "vm-orphan",
            Reason.ORPHANED,
            node="vm-orphan",
            detail="VM vm-orphan belongs to pool 'gone', which no longer exists",
        ),
    )
    assert lifecycle.backoff_remaining("gone", 10 * CONFIG.pending_deadline) == 0.0


def test_deleting_vms_are_left_to_finish() -> None:
    lifecycle = Lifecycle(CONFIG)
    vm = launching_vm(phase=VMPhase.DELETING, since=0.0)
    result = lifecycle.step(world(vms=[vm]), 10_000.0)
    assert result.actions == ()
    assert result.launching("general") == []


def test_launch_phase_follows_the_node_once_it_exists() -> None:
    vm = launching_vm(phase=VMPhase.RUNNING, node_name="vm-1")
    assert launch_phase(vm, None) is LaunchPhase.REGISTERING
    assert launch_phase(vm, make_node("vm-1", ready=False)) is LaunchPhase.NODE_NOT_READY
    assert launch_phase(vm, make_node("vm-1")) is LaunchPhase.READY


def test_invalid_durations_in_the_config_are_rejected_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="pending_deadline"):
        CoreConfig(pending_deadline=-1)
    with pytest.raises(ValueError, match="backoff_max"):
        CoreConfig(backoff_base=60, backoff_max=30)
