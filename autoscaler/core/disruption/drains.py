"""Removals under way: validation of a method's choice, then cordon, drain, live-checked
deletion; adoption of removals a previous instance started, and giving up.

A removal proposed by a method is acted on only once it has stayed proposed for the
validation delay. A node carrying the disrupting taint is ours: a new instance on the same
world picks up the drains of the previous one from the taint and the Node's disruption
record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.core.actions import Action, CordonNode, DeleteVM, DrainNode, Reason, UncordonNode
from autoscaler.core.config import CoreConfig, disrupting_taint_of
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.whatif import room_elsewhere
from autoscaler.core.eviction import node_blockers, still_draining
from autoscaler.core.model import Node, Pod, Snapshot
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.timers import FirstSeen, format_duration


@dataclass(slots=True)
class _Drain:
    """A node the autoscaler cordoned and is draining."""

    reason: Reason
    started: float
    last_drain: float
    drained_since: float | None = None
    last_delete: float | None = None
    # Whether the snapshot has shown the node cordoned and marked: until then a missing mark
    # means the cordon has not landed (it is asked for again), not that someone undid it.
    marked_seen: bool = False
    # The live check found pods the cached view does not show: the node is not drained.
    held: str | None = None


class Drains:
    """The removals the autoscaler proposed, is draining, or gave up on lately."""

    def __init__(self, config: CoreConfig, cache: NodeCache) -> None:
        self.config = config
        self._cache = cache
        self._proposed = FirstSeen()
        self._drains: dict[str, _Drain] = {}
        self._resting_until: dict[str, float] = {}  # nodes whose drain was given up

    def draining(self) -> tuple[str, ...]:
        return tuple(sorted(self._drains))

    def deletion_held(self, node: str, why: str, now: float) -> None:
        """The VM of ``node`` was not deleted: the live check found pods on it (or could not
        look). The drain stays in progress: evictions and the deletion are retried, and the
        drain deadline applies as if the pods showed in the snapshot."""
        drain = self._drains.get(node)
        if drain is not None:
            drain.held = why
            drain.drained_since = None
            drain.last_drain = min(drain.last_drain, now - self.config.drain_retry_interval)

    def disrupting(self, snapshot: Snapshot) -> set[str]:
        present = {node.name for node in snapshot.nodes}
        for name in [name for name in self._drains if name not in present]:
            del self._drains[name]
        marked = {node.name for node in snapshot.nodes if disrupting_taint_of(node) is not None}
        return marked | set(self._drains)

    def resting(self, now: float) -> set[str]:
        self._resting_until = {n: t for n, t in self._resting_until.items() if t > now}
        return set(self._resting_until)

    def validated(self, removals: Sequence[Removal], now: float) -> list[Action]:
        """Cordon and drain the candidates that have stayed candidates for the delay."""
        self._proposed.observe((c.node.name for c in removals), now)
        actions: list[Action] = []
        for removal in removals:
            name = removal.node.name
            if self._proposed.elapsed(name, now) < self.config.scale_down_validation_delay:
                continue
            self._proposed.forget(name)
            self._drains[name] = _Drain(removal.reason, started=now, last_drain=now)
            actions.append(CordonNode(name, removal.reason, removal.detail))
            actions.append(DrainNode(name, removal.reason, removal.detail))
        return actions

    def follow(self, snapshot: Snapshot, now: float, disrupting: set[str]) -> list[Action]:
        nodes = {node.name: node for node in snapshot.nodes}
        bound = self._cache.bound(snapshot.pods)
        vm_of_node = {vm.node_name or vm.name: vm.name for vm in snapshot.vms}
        actions: list[Action] = []
        for name in sorted(disrupting):
            node = nodes.get(name)
            if node is None or node.deleting:
                continue
            remaining = [pod for pod in bound.get(name, ()) if still_draining(pod)]
            drain = self._drains.get(name)
            if drain is None:
                adopted = self._adopt(snapshot, node, remaining, disrupting, now)
                if isinstance(adopted, UncordonNode):
                    actions.append(adopted)
                    continue
                drain = adopted
                if remaining and _marked(node):
                    actions.append(DrainNode(name, drain.reason, "drain resumed"))
            if not _marked(node):
                actions.extend(self._unmarked(node, drain, now))
                continue
            drain.marked_seen = True
            if drain.held is not None and not remaining:
                actions.extend(self._held(node, drain, vm_of_node.get(name, name), now))
                continue
            if not remaining:
                if drain.drained_since is None:
                    drain.drained_since = now
                if now - drain.drained_since < self.config.delete_delay_after_drain:
                    continue
                if (
                    drain.last_delete is None
                    or now - drain.last_delete >= self.config.drain_retry_interval
                ):
                    drain.last_delete = now
                    actions.append(
                        DeleteVM(
                            vm_of_node.get(name, name),
                            drain.reason,
                            node=name,
                            detail=f"node {name} is drained",
                        )
                    )
                continue
            drain.drained_since = None
            drain.held = None  # the snapshot shows the pods now: the drain follows them
            if now - drain.started > self.config.drain_timeout:
                actions.append(self._give_up(name, remaining, now))
            elif now - drain.last_drain >= self.config.drain_retry_interval:
                drain.last_drain = now
                actions.append(DrainNode(name, drain.reason, "retrying evictions"))
        return actions

    def _unmarked(self, node: Node, drain: _Drain, now: float) -> list[Action]:
        """A node being removed that the snapshot shows without the cordon or the mark."""
        name = node.name
        if drain.marked_seen and not node.unschedulable and disrupting_taint_of(node) is None:
            # It was marked and both marks are gone: someone took the node back.
            del self._drains[name]
            self._resting_until[name] = now + self.config.drain_timeout
            return []
        if now - drain.started > self.config.drain_timeout:
            del self._drains[name]
            self._resting_until[name] = now + self.config.drain_timeout
            return [
                UncordonNode(
                    name,
                    Reason.SCALE_DOWN_ABORTED,
                    "the node could not be cordoned within "
                    f"{format_duration(self.config.drain_timeout)}",
                )
            ]
        if now - drain.last_drain < self.config.drain_retry_interval:
            return []
        # The cordon failed, or has not shown yet, or half of it was undone: ask again. No
        # drain before the node is cordoned, and no deletion while it is not.
        drain.last_drain = now
        return [
            CordonNode(name, drain.reason, "cordon retried"),
            DrainNode(name, drain.reason, "drain after the cordon"),
        ]

    def _held(self, node: Node, drain: _Drain, vm: str, now: float) -> list[Action]:
        """A node the snapshot shows drained whose deletion the live check held back."""
        name = node.name
        if now - drain.started > self.config.drain_timeout:
            return [self._give_up(name, (), now, drain.held)]
        if now - drain.last_drain < self.config.drain_retry_interval:
            return []
        drain.last_drain = now
        drain.last_delete = now
        return [
            DrainNode(name, drain.reason, f"retrying evictions: {drain.held}"),
            DeleteVM(vm, drain.reason, node=name, detail=f"node {name} is drained"),
        ]

    def _give_up(
        self, name: str, remaining: Sequence[Pod], now: float, held: str | None = None
    ) -> UncordonNode:
        del self._drains[name]
        self._resting_until[name] = now + self.config.drain_timeout
        if remaining:
            left = ", ".join(pod.key for pod in remaining[:3])
            what = f"{len(remaining)} pod(s) left ({left})"
        else:
            what = f"the live check holds the deletion: {held}"
        return UncordonNode(
            name,
            Reason.DRAIN_TIMEOUT,
            f"drain did not finish in {format_duration(self.config.drain_timeout)}; {what}",
        )

    def _adopt(
        self,
        snapshot: Snapshot,
        node: Node,
        remaining: Sequence[Pod],
        disrupting: set[str],
        now: float,
    ) -> _Drain | UncordonNode:
        """A node marked as disrupted by a previous instance: carry on, or give it back if it
        is needed again."""
        taint = disrupting_taint_of(node)
        reason = _reason_from(taint.value if taint is not None else "")
        movable = [pod for pod in remaining if not pod.terminating]
        blockers = [b for b in node_blockers(movable, snapshot.pdbs) if not b.momentary]
        needed: str | None = None
        if blockers:
            needed = f"{blockers[0]}"
        elif reason in (Reason.EMPTY, Reason.UNDERUTILIZED) and not room_elsewhere(
            snapshot, node.name, disrupting, self._cache
        ):
            needed = "its pods no longer fit on other nodes"
        if needed is not None:
            self._resting_until[node.name] = now + self.config.drain_timeout
            return UncordonNode(node.name, Reason.SCALE_DOWN_ABORTED, f"node is needed: {needed}")
        record = node.disruption
        # The recorded start keeps the drain deadline of the disruption being resumed.
        started = min(record.started, now) if record is not None else now
        marked = _marked(node)
        # An unmarked node (half of the cordon undone) is cordoned again at once.
        last = now if marked else now - self.config.drain_retry_interval
        drain = _Drain(reason, started=started, last_drain=last, marked_seen=marked)
        self._drains[node.name] = drain
        return drain


def _marked(node: Node) -> bool:
    """Whether ``node`` shows both the cordon and the autoscaler's disrupting taint."""
    return node.unschedulable and disrupting_taint_of(node) is not None


def _reason_from(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        return Reason.UNDERUTILIZED
