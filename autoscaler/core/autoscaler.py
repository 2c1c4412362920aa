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

from autoscaler.api.resources import Resources
from autoscaler.core.actions import (
    Action,
    Explanation,
    LaunchVM,
    Plan,
    Verdict,
)
from autoscaler.core.config import DEFAULT_CONFIG, CoreConfig
from autoscaler.core.disruption.controller import ScaleDown
from autoscaler.core.disruption.drains import Drains
from autoscaler.core.disruption.holds import hold_reason
from autoscaler.core.future_node import future_node
from autoscaler.core.lifecycle import Lifecycle, LifecycleResult
from autoscaler.core.model import Pod, Pool, Snapshot
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.scaleup import ScaleUpResult, plan_scale_up
from autoscaler.core.timers import format_duration
from autoscaler.core.volume_topology import VolumeTopology


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
        self._drains = Drains(config, self._cache)
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
        return self._drains.draining()

    def deletion_held(self, node: str, why: str, now: float) -> None:
        """The VM of ``node`` was not deleted: the live check found pods on it (or could not
        look). The drain stays in progress: evictions and the deletion are retried, and the
        drain deadline applies as if the pods showed in the snapshot."""
        self._drains.deletion_held(node, why, now)

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

        disrupting = self._drains.disrupting(world)
        deleted_nodes = _nodes_of_deleted_vms(lifecycle)
        actions.extend(self._drains.follow(world, now, disrupting - deleted_nodes))

        leaving = set(self._drains.draining()) | disrupting | deleted_nodes
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
            excluded=self._drains.resting(now),
            lifecycle=lifecycle,
            scale_up_pools=active,
            launched_now=launched_now,
        )
        actions.extend(down.deletions)
        actions.extend(down.replacements)
        actions.extend(self._drains.validated(down.removals, now))

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
