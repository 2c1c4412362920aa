"""The decision state machine: ``(Snapshot, now) -> Plan``, keeping timers between calls.

One pass: pool validity, the VM lifecycle (timeouts, failures, orphans, backoff, repair of
unhealthy nodes), scale-up over the valid pools that are not backing off, the drains already
under way, then new scale-down candidates. A scale-down candidate is acted on (cordon and
drain) only once it has stayed a candidate for the validation delay. What the autoscaler
started is remembered, but always reconciled with the snapshot: a node carrying the disrupting
taint is ours, so a new instance on the same world picks up the drains of the previous one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from autoscaler.api.resources import Resources
from autoscaler.core.actions import (
    Action,
    CordonNode,
    DeleteVM,
    DrainNode,
    Explanation,
    LaunchVM,
    Plan,
    Reason,
    UncordonNode,
    Verdict,
)
from autoscaler.core.config import DEFAULT_CONFIG, CoreConfig, disrupting_taint_of
from autoscaler.core.disruption.controller import ScaleDown
from autoscaler.core.disruption.holds import hold_reason
from autoscaler.core.disruption.removal import Removal
from autoscaler.core.disruption.whatif import room_elsewhere
from autoscaler.core.eviction import node_blockers, still_draining
from autoscaler.core.future_node import future_node
from autoscaler.core.lifecycle import Lifecycle, LifecycleResult
from autoscaler.core.model import Node, Pod, Pool, Snapshot
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.scaleup import ScaleUpResult, plan_scale_up
from autoscaler.core.timers import FirstSeen, format_duration
from autoscaler.core.volume_topology import VolumeTopology


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


class Autoscaler:
    def __init__(
        self, config: CoreConfig = DEFAULT_CONFIG, *, node_cache: NodeCache | None = None
    ) -> None:
        """``node_cache`` keeps per-node work between passes (by default a new one)."""
        self.config = config
        self._lifecycle = Lifecycle(config)
        self._schedulers = frozenset(config.scheduler_names)
        self._cache = node_cache if node_cache is not None else NodeCache()
        self._volumes = VolumeTopology()
        self._scale_down = ScaleDown(config, self._plan_scale_up, self._cache)
        self._last_launch: dict[str, float] = {}
        self._proposed = FirstSeen()
        self._drains: dict[str, _Drain] = {}
        self._resting_until: dict[str, float] = {}  # nodes whose drain was given up
        # (when, pool, requests of the pods launched for), within the growth window.
        self._growth: list[tuple[float, str, Resources]] = []

    def _plan_scale_up(
        self, snapshot: Snapshot, pools: Sequence[Pool], unhealthy: Collection[str]
    ) -> ScaleUpResult:
        return plan_scale_up(
            snapshot, pools, self._schedulers, cache=self._cache, unhealthy=unhealthy
        )

    def _recent_growth(self, now: float) -> dict[str, Resources]:
        """Per pool, the requests of the pods it launched VMs for within the growth window."""
        window = self.config.growth_window
        self._growth = [g for g in self._growth if now - g[0] < window]
        totals: dict[str, Resources] = {}
        for _, pool, requests in self._growth:
            totals[pool] = totals.get(pool, Resources()) + requests
        return totals

    def _record_growth(self, snapshot: Snapshot, launches: Sequence[LaunchVM], now: float) -> None:
        if self.config.growth_window <= 0 or not launches:
            return
        requests = {pod.key: pod.requests for pod in snapshot.pods}
        for launch in launches:
            total = Resources()
            for key in launch.pods:
                total = total + requests.get(key, Resources())
            self._growth.append((now, launch.pool, total))

    # Read-only views, for status and metrics ---------------------------------------------
    @property
    def node_cache(self) -> NodeCache:
        """The per-node work kept between passes (its ``enabled`` may be turned off before the
        first pass, to compare decisions with and without it)."""
        return self._cache

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

    def unneeded_since(self, node: str) -> float | None:
        return self._scale_down.unneeded_since.since(node)

    def backoff_remaining(self, pool: str, now: float) -> float:
        return self._lifecycle.backoff_remaining(pool, now)

    def unhealthy_since(self, vm: str) -> float | None:
        return self._lifecycle.unhealthy_since(vm)

    def next_consolidation_check(self) -> float | None:
        return self._scale_down.next_consolidation_check()

    # The pass -----------------------------------------------------------------------------
    def decide(self, snapshot: Snapshot, now: float) -> Plan:
        # Volumes constrain pods like node affinity, for scale-up and scale-down alike.
        snapshot = self._volumes.apply(snapshot)
        self._cache.begin(snapshot)
        lifecycle = self._lifecycle.step(snapshot, now)
        actions: list[Action] = list(lifecycle.actions)
        pools = sorted(snapshot.pools, key=lambda p: p.name)
        valid = [pool for pool in pools if pool.settings is not None]
        messages = [
            (pool.name, pool.error or "the pool's settings are invalid")
            for pool in pools
            if pool.settings is None
        ]
        backing_off = {
            pool.name: remaining
            for pool in valid
            if (remaining := self._lifecycle.backoff_remaining(pool.name, now)) > 0
        }
        messages.extend(
            (name, f"backing off after a failed launch: {format_duration(remaining)} left")
            for name, remaining in backing_off.items()
        )
        active = [pool for pool in valid if pool.name not in backing_off]

        world = self._world(snapshot, lifecycle)
        scale_up = plan_scale_up(
            world,
            active,
            self._schedulers,
            self._recent_growth(now),
            cache=self._cache,
            unhealthy=lifecycle.unhealthy,
        )
        self._record_growth(world, scale_up.launches, now)
        actions.extend(scale_up.launches)
        explanations = self._explain(scale_up.explanations, world, pools, backing_off)
        told = {name for name, _ in messages}
        messages.extend((name, text) for name, text in scale_up.pool_messages if name not in told)
        messages = _with_repair_withheld(messages, lifecycle.repair_withheld)

        disrupting = self._disrupting(world)
        deleted_nodes = _nodes_of_deleted_vms(lifecycle)
        actions.extend(self._follow_drains(world, now, disrupting - deleted_nodes))

        leaving = set(self._drains) | disrupting | deleted_nodes
        launched_now = {key for launch in scale_up.launches for key in launch.pods}
        unplaced = [
            pod
            for pod in self._cache.pending(world.pods, self._schedulers)
            if pod.key not in scale_up.placements and pod.key not in launched_now
        ]
        launching_pools = {la.pool for la in scale_up.launches if la.pods}
        holds = self._holds(world, now, valid, unplaced, launching_pools)
        down = self._scale_down.plan(
            world,
            now,
            pools=valid,
            holds=holds,
            leaving=leaving,
            excluded=self._resting(now),
            lifecycle=lifecycle,
            scale_up_pools=active,
            launched_now=launched_now,
        )
        actions.extend(down.deletions)
        actions.extend(down.replacements)
        actions.extend(self._validated(down.removals, now))

        for action in actions:
            if isinstance(action, LaunchVM):
                self._last_launch[action.pool] = now
        return Plan(
            actions=tuple(actions),
            explanations=tuple(explanations),
            pool_messages=tuple(messages),
        )

    # Views of the snapshot ----------------------------------------------------------------
    @staticmethod
    def _world(snapshot: Snapshot, lifecycle: LifecycleResult) -> Snapshot:
        """The snapshot as scale-up and scale-down see it: VMs deleted in this pass are gone."""
        if not lifecycle.deleted:
            return snapshot
        vms = tuple(vm for vm in snapshot.vms if vm.name not in lifecycle.deleted)
        return dataclasses.replace(snapshot, vms=vms)

    def _disrupting(self, snapshot: Snapshot) -> set[str]:
        present = {node.name for node in snapshot.nodes}
        for name in [name for name in self._drains if name not in present]:
            del self._drains[name]
        marked = {node.name for node in snapshot.nodes if disrupting_taint_of(node) is not None}
        return marked | set(self._drains)

    def _holds(
        self,
        snapshot: Snapshot,
        now: float,
        pools: Sequence[Pool],
        pending: Sequence[Pod],
        launching_now: set[str],
    ) -> dict[str, str]:
        """Pools that must not shrink this pass. ``pending`` are the pending pods that no
        existing node or launching VM takes and no launch of this pass is sized for."""
        holds: dict[str, str] = {}
        for pool in pools:
            if pool.name in launching_now:
                holds[pool.name] = "this pass launches VMs for the pool"
                continue
            reason = hold_reason(
                pool,
                snapshot=snapshot,
                pending=pending,
                last_launch=self._last_launch.get(pool.name),
                now=now,
                config=self.config,
            )
            if reason is not None:
                holds[pool.name] = reason
        return holds

    def _resting(self, now: float) -> set[str]:
        self._resting_until = {n: t for n, t in self._resting_until.items() if t > now}
        return set(self._resting_until)

    # Scale-down actions -------------------------------------------------------------------
    def _validated(self, removals: Sequence[Removal], now: float) -> list[Action]:
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

    def _follow_drains(self, snapshot: Snapshot, now: float, disrupting: set[str]) -> list[Action]:
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

    # Explanations -------------------------------------------------------------------------
    def _explain(
        self,
        explanations: Sequence[Explanation],
        snapshot: Snapshot,
        pools: Sequence[Pool],
        backing_off: Mapping[str, float],
    ) -> list[Explanation]:
        """Say so when pods match no pool only because their pool is backing off or invalid."""
        sidelined = [p for p in pools if p.settings is None or p.name in backing_off]
        if not sidelined:
            return list(explanations)
        pods = {pod.key: pod for pod in snapshot.pods if pod.node_name is None}
        result: list[Explanation] = []
        for explanation in explanations:
            pod = pods.get(explanation.sample[0]) if explanation.sample else None
            if explanation.verdict is not Verdict.NO_POOL_MATCHES or pod is None:
                result.append(explanation)
                continue
            pool = next((p for p in sidelined if _template_admits(p, pod, snapshot)), None)
            if pool is None:
                result.append(explanation)
            elif pool.settings is None:
                message = f"pool {pool.name} is invalid: {pool.error or 'invalid settings'}"
                result.append(
                    dataclasses.replace(
                        explanation, verdict=Verdict.POOL_INVALID, pool=pool.name, message=message
                    )
                )
            else:
                left = format_duration(backing_off[pool.name])
                message = f"pool {pool.name} is backing off after a failed launch: {left} left"
                result.append(
                    dataclasses.replace(
                        explanation, verdict=Verdict.BACKING_OFF, pool=pool.name, message=message
                    )
                )
        return result


def _template_admits(pool: Pool, pod: Pod, snapshot: Snapshot) -> bool:
    """Whether the pool's node template (labels, taints) admits the pod, whatever its size."""
    template = future_node(f"{pool.name}-template", pool, Resources(), snapshot.daemonsets)
    return template.static_failure(pod) is None


def _with_repair_withheld(
    messages: Sequence[tuple[str, str]], withheld: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Pool messages with the repair valve's appended to the pool's message, if it has one."""
    extra = dict(withheld)
    merged = [
        (name, f"{text}; {extra.pop(name)}" if name in extra else text) for name, text in messages
    ]
    return merged + sorted(extra.items())


def _nodes_of_deleted_vms(lifecycle: LifecycleResult) -> set[str]:
    return {
        status.node.name
        for status in lifecycle.statuses
        if status.node is not None and status.vm.name in lifecycle.deleted
    }


def _marked(node: Node) -> bool:
    """Whether ``node`` shows both the cordon and the autoscaler's disrupting taint."""
    return node.unschedulable and disrupting_taint_of(node) is not None


def _reason_from(value: str) -> Reason:
    try:
        return Reason(value)
    except ValueError:
        return Reason.UNDERUTILIZED
