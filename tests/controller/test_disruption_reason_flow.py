"""A removal's reason and detail reach the actions unchanged, and the actuator's log and
Event text for each of them."""

from __future__ import annotations

from autoscaler.api.resources import Resources
from autoscaler.controller.actuator import describe
from autoscaler.core.actions import CordonNode, DeleteVM, DrainNode, Reason
from autoscaler.core.config import CoreConfig
from autoscaler.core.disruption.drains import Drains
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.model import POOL_LABEL, Node
from autoscaler.core.nodecache import NodeCache


def test_a_validated_removal_carries_its_reason_and_detail_into_cordon_and_drain() -> None:
    config = CoreConfig(scale_down_validation_delay=30.0)
    drains = Drains(config, NodeCache(enabled=False))
    node = Node("n1", Resources.of(cpu=2000), labels={POOL_LABEL: "general"})
    removal = Removal(node, "general", Reason.EMPTY, "node runs no workload pods", ())

    assert drains.validated([removal], 0.0) == []  # proposed, not yet validated
    actions = drains.validated([removal], 30.0)

    assert actions == [
        CordonNode("n1", Reason.EMPTY, "node runs no workload pods"),
        DrainNode("n1", Reason.EMPTY, "node runs no workload pods"),
    ]
    assert drains.draining() == ("n1",)
    assert [describe(a) for a in actions] == [
        "cordon node n1 [Empty] node runs no workload pods",
        "drain node n1 [Empty] node runs no workload pods",
    ]


def test_a_deletion_is_described_with_its_reason_and_detail() -> None:
    step = DeleteVM("vm-1", Reason.UNDERUTILIZED, node="n1", detail="node n1 is drained")
    assert describe(step) == "delete VM vm-1 and node n1 [Underutilized] node n1 is drained"
