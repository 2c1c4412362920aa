"""Scale-down's pass: find the unneeded nodes, then try the methods in order.

This module chooses; :mod:`autoscaler.core.autoscaler` validates the choice after a delay and
turns it into actions. Empty and under-utilised nodes must have been unneeded for the pool's
``scale_down_unneeded_seconds``. Every removal keeps the pool at or above ``min_nodes`` and
within its disruption budget, and a removal after which the next scale-up would launch a VM
this pass's scale-up does not is dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

from autoscaler.core.config import CoreConfig
from autoscaler.core.disruption.method import Command, Method
from autoscaler.core.disruption.methods import METHODS
from autoscaler.core.disruption.replacement import link_replacements, next_check
from autoscaler.core.disruption.scan import Scan
from autoscaler.core.disruption.state import DisruptionState
from autoscaler.core.disruption.unneeded import find_unneeded
from autoscaler.core.disruption.whatif import ScaleUpPlanner
from autoscaler.core.lifecycle import LifecycleResult
from autoscaler.core.model import Pool, Snapshot
from autoscaler.core.nodecache import NodeCache
from autoscaler.core.timers import FirstSeen


class ScaleDown:
    """Chooses the nodes to disrupt each pass; keeps what scale-down remembers."""

    def __init__(
        self,
        config: CoreConfig,
        plan_scale_up: ScaleUpPlanner,
        cache: NodeCache | None = None,
        methods: Sequence[Method] = METHODS,
    ) -> None:
        self.config = config
        self.plan_scale_up = plan_scale_up
        self.cache = cache if cache is not None else NodeCache()
        self.methods = tuple(methods)
        self.state = DisruptionState()

    @property
    def unneeded_since(self) -> FirstSeen:
        return self.state.unneeded_since

    def next_consolidation_check(self) -> float | None:
        """When consolidation will look at some pool again (for callers that skip passes)."""
        return next_check(self.state)

    def plan(
        self,
        snapshot: Snapshot,
        now: float,
        *,
        pools: Sequence[Pool],
        holds: Mapping[str, str],
        leaving: Collection[str],
        excluded: Collection[str],
        lifecycle: LifecycleResult,
        scale_up_pools: Sequence[Pool],
        launched_now: Collection[str] = (),
    ) -> Command:
        """Choose this pass's disruptions.

        ``pools`` are the valid pools; ``holds`` maps pools that must not shrink now to why
        (OverMax still applies to them); ``leaving`` are nodes already being removed (their
        pods move first); ``excluded`` are nodes not to consider as candidates now;
        ``scale_up_pools`` are the pools the next scale-up would launch into;
        ``launched_now`` are the pods this pass's scale-up launches VMs for.
        """
        link_replacements(self.state, snapshot, pools, now)
        scan = Scan(
            config=self.config,
            state=self.state,
            plan_scale_up=self.plan_scale_up,
            cache=self.cache,
            snapshot=snapshot,
            now=now,
            pools=pools,
            holds=holds,
            leaving=leaving,
            excluded=excluded,
            lifecycle=lifecycle,
            scale_up_pools=scale_up_pools,
            launched_now=frozenset(launched_now),
        )
        unneeded = find_unneeded(scan)
        self.state.unneeded_since.observe(unneeded, now)
        names = tuple(unneeded)
        for method in self.methods:
            found = method.propose(scan, unneeded)
            if found.acts:
                return dataclasses.replace(found, unneeded=names)
        return Command(method=None, unneeded=names)
