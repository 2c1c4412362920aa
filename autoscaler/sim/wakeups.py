"""When the core's timers may come due, so that scans with unchanged inputs can be skipped.

After a pass in which the world changed or the core acted, any timer may have started, so
the controller wakes after every duration the configuration knows. After a pass that only a
timer caused, the absolute times below are enough: they come from what the snapshot shows and
from the core's read-only views, so they do not breed new wake-ups by themselves.
"""

from __future__ import annotations

from collections.abc import Iterable

from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.lifecycle import LAUNCHING_PHASES, LaunchPhase, launch_phase, phase_deadline
from autoscaler.core.model import Snapshot


class CoreWakeups:
    def __init__(self, autoscaler: Autoscaler, config: CoreConfig) -> None:
        self._autoscaler = autoscaler
        self._config = config
        self._seen_not_ready: set[str] = set()
        self._seen_draining: set[str] = set()
        self._seen_expired: set[str] = set()

    def __call__(self, snapshot: Snapshot, now: float) -> Iterable[float]:
        config, core = self._config, self._autoscaler
        nodes = {n.name: n for n in snapshot.nodes}
        not_ready: set[str] = set()
        repair_after = config.unhealthy_node_repair_after
        for vm in snapshot.vms:
            node = nodes.get(vm.node_name or vm.name)
            unhealthy_since = core.unhealthy_since(vm.name)
            if unhealthy_since is not None and repair_after > 0:
                yield unhealthy_since + repair_after
            phase = launch_phase(vm, node)
            deadline = phase_deadline(phase, config)
            if phase not in LAUNCHING_PHASES or deadline is None:
                continue
            yield vm.phase_since + deadline
            if phase is LaunchPhase.NODE_NOT_READY and node is not None:
                not_ready.add(node.name)
                yield node.created + deadline
                if node.name not in self._seen_not_ready:
                    yield now + deadline
        self._seen_not_ready = not_ready
        settings = {p.name: p.settings for p in snapshot.pools if p.settings is not None}
        expired: set[str] = set()
        for node in snapshot.nodes:
            pool = settings.get(node.pool or "")
            if pool is None:
                continue
            if pool.expire_after_seconds is not None:
                yield node.created + pool.expire_after_seconds
            since = core.unneeded_since(node.name)
            if since is None:
                continue
            if since + pool.scale_down_unneeded_seconds > now:
                yield since + pool.scale_down_unneeded_seconds
            else:
                # The node became a scale-down candidate in this pass: the decision is
                # re-checked after the validation delay.
                expired.add(node.name)
                if node.name not in self._seen_expired:
                    yield now + config.scale_down_validation_delay
        self._seen_expired = expired
        for name in settings:
            remaining = core.backoff_remaining(name, now)
            if remaining > 0:
                yield now + remaining
        consolidation = core.next_consolidation_check()
        if consolidation is not None:
            yield max(consolidation, now)
        draining = set(core.draining())
        if draining:
            yield now + config.drain_retry_interval
            yield now + config.delete_delay_after_drain
            for _ in draining - self._seen_draining:
                yield now + config.drain_timeout
        self._seen_draining = draining
