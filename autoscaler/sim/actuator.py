"""Executes a Plan's actions against the simulated world, as the real actuator does.

LaunchVM creates a VM (on the hinted host when it has room); CordonNode marks the node
unschedulable with the core's disrupting taint; DrainNode evicts the node's movable pods one by
one through the Eviction API and retries refused evictions every few seconds until the node is
empty, uncordoned or gone; DeleteVM deletes the VM and its Node; UncordonNode undoes a cordon.
Every action is idempotent: repeating one, or naming something already gone, does nothing.
"""

from __future__ import annotations

from collections import Counter

from autoscaler.core.actions import (
    Action,
    CordonNode,
    DeleteVM,
    DrainNode,
    LaunchVM,
    Plan,
    UncordonNode,
)
from autoscaler.core.eviction import must_move
from autoscaler.core.model import Pod
from autoscaler.sim.disruption import Disruptions
from autoscaler.sim.engine import Engine
from autoscaler.sim.kubevirt import KubeVirt
from autoscaler.sim.world import SimWorld

DRAIN_RETRY_SECONDS = 5.0


def is_movable(pod: Pod) -> bool:
    """What a drain evicts: what the core says must move, except do-not-disrupt pods."""
    return must_move(pod) and not pod.do_not_disrupt


class SimActuator:
    def __init__(
        self, engine: Engine, world: SimWorld, kubevirt: KubeVirt, disruptions: Disruptions
    ) -> None:
        self._engine = engine
        self._world = world
        self._kubevirt = kubevirt
        self._disruptions = disruptions
        self._draining: set[str] = set()
        self.executed: Counter[str] = Counter()

    def execute(self, plan: Plan) -> None:
        for action in plan.actions:
            self.executed[f"{type(action).__name__}:{action.reason}"] += 1
            self._one(action)

    def _one(self, action: Action) -> None:
        world = self._world
        match action:
            case LaunchVM():
                self._kubevirt.launch(
                    action.pool, action.shape, action.image_hash, action.host, action.zone
                )
            case CordonNode() if action.node in world.nodes:
                world.cordon(action.node, str(action.reason))
            case UncordonNode() if action.node in world.nodes:
                self._draining.discard(action.node)
                world.uncordon(action.node)
            case DrainNode() if action.node in world.nodes:
                if action.node in self._draining:
                    return
                if not world.nodes[action.node].node.unschedulable:
                    world.cordon(action.node, str(action.reason))
                self._draining.add(action.node)
                self._drain(action.node)
            case DeleteVM():
                self._draining.discard(action.node or "")
                if not self._kubevirt.delete(action.vm) and action.node in world.nodes:
                    world.remove_node(action.node)
            case _:
                pass

    def _drain(self, node: str) -> None:
        world = self._world
        if node not in self._draining:
            return
        if node not in world.nodes or not world.nodes[node].node.unschedulable:
            self._draining.discard(node)
            return
        refused = False
        for pod in world.pods_on(node):
            if is_movable(pod) and self._disruptions.evict(pod.key) is not None:
                refused = True
        if refused:
            self._engine.after(DRAIN_RETRY_SECONDS, lambda: self._drain(node))
        else:
            self._draining.discard(node)
