"""Which VM deletions the actuator records as warning Events on the TenantCluster."""

from __future__ import annotations

from autoscaler.controller.actuator import deletion_warning
from autoscaler.core.actions import DeleteVM, Reason


def test_a_repair_is_recorded_as_a_node_repaired_warning() -> None:
    action = DeleteVM("vm-1", Reason.UNHEALTHY, node="vm-1", detail="NotReady for 31m0s")
    assert deletion_warning(action, "general") == (
        "NodeRepaired",
        "VM vm-1 of pool general is deleted: NotReady for 31m0s",
    )


def test_launch_failures_are_replacements_and_scale_down_is_no_warning() -> None:
    timeout = DeleteVM("vm-2", Reason.LAUNCH_TIMEOUT, detail="deadline")
    assert deletion_warning(timeout, "") == (
        "VMReplaced",
        "VM vm-2 of pool ? is replaced: deadline",
    )
    assert deletion_warning(DeleteVM("vm-3", Reason.EMPTY, node="vm-3"), "general") is None
