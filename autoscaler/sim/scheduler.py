"""The tenant's kube-scheduler: each cycle binds pending pods to Ready schedulable nodes.

Placement uses the core's predicates and first-fit placement over nodes ordered most-requested
first (a deterministic stand-in for the scheduler's MostAllocated scoring). Pods that fit
nowhere get ``PodScheduled=False`` with reason Unschedulable, which is what the autoscaler
watches for. A cycle is skipped when nothing changed since the last one.
"""

from __future__ import annotations

import dataclasses
import functools

from autoscaler.core.model import Pod
from autoscaler.core.predicates import NodeState
from autoscaler.core.scheduling import place
from autoscaler.sim.engine import Engine
from autoscaler.sim.world import World


def _most_requested_first(state: NodeState) -> tuple[float, str]:
    alloc = state.allocatable
    used = state.used
    share = max(
        used.cpu / alloc.cpu if alloc.cpu else 1.0,
        used.memory / alloc.memory if alloc.memory else 1.0,
    )
    return (-share, state.name)


class Scheduler:
    def __init__(self, engine: Engine, world: World, pod_start_delay: float) -> None:
        self._engine = engine
        self._world = world
        self._start_delay = pod_start_delay
        self._seen_revision = -1
        self.cycles = 0

    def cycle(self) -> None:
        world = self._world
        if world.revision == self._seen_revision:
            return
        pending = world.unbound_pods()
        if not pending:
            self._seen_revision = world.revision
            return
        self.cycles += 1
        states = sorted(
            (n.state for n in world.ready_nodes() if n.state.schedulable),
            key=_most_requested_first,
        )
        placed = place(pending, states) if states else {}
        now = self._engine.now
        for key, node_name in sorted(placed.items()):
            world.bind(key, node_name, placed=True)
            self._engine.after(self._start_delay, functools.partial(world.start_pod, key))
        for pod in pending:
            if pod.key not in placed and not pod.unschedulable:
                world.set_pod(_unschedulable(pod, now))
        self._seen_revision = world.revision


def _unschedulable(pod: Pod, now: float) -> Pod:
    return dataclasses.replace(pod, unschedulable=True, unschedulable_since=now)
