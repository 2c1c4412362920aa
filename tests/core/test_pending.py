"""Which pods count as pending."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.core.model import Pod, PodPhase
from autoscaler.core.pending import is_pending, pending_pods

PENDING = Pod("default", "web-1", unschedulable=True)


def test_an_unschedulable_pod_is_pending() -> None:
    assert is_pending(PENDING)


@pytest.mark.parametrize(
    "change",
    [
        {"unschedulable": False},
        {"phase": PodPhase.RUNNING},
        {"terminating": True},
        {"scheduling_gated": True},
        {"node_name": "n1"},
        {"scheduler_name": "volcano"},
        {"owner_kind": "DaemonSet"},
    ],
)
def test_pods_we_cannot_help_are_not_pending(change: dict[str, object]) -> None:
    assert not is_pending(replace(PENDING, **change))  # type: ignore[arg-type]


def test_the_scheduler_set_is_configurable() -> None:
    volcano = replace(PENDING, name="job-1", scheduler_name="volcano")
    pods = [PENDING, volcano]
    assert pending_pods(pods) == [PENDING]
    assert pending_pods(pods, frozenset({"volcano", "default-scheduler"})) == pods
