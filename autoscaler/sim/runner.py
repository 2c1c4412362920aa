"""Builds a simulated world from a scenario, runs it in virtual time, and summarises the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Verdict
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.batching import BatchWindows
from autoscaler.core.config import CoreConfig
from autoscaler.core.lifecycle import launch_phase, phase_deadline
from autoscaler.core.model import VMPhase
from autoscaler.core.pending import pending_pods
from autoscaler.sim.actuator import SimActuator
from autoscaler.sim.baseline import BaselineConfig, FixedShapeAutoscaler
from autoscaler.sim.controller import Controller, Policy
from autoscaler.sim.disruption import Disruptions
from autoscaler.sim.engine import Engine, RandomStreams
from autoscaler.sim.kubevirt import KubeVirt
from autoscaler.sim.pools import Pools
from autoscaler.sim.scenario import Scenario, TimedEvent
from autoscaler.sim.scheduler import Scheduler
from autoscaler.sim.stats import GIB, Series, Stats, percentile
from autoscaler.sim.wakeups import CoreWakeups
from autoscaler.sim.workloads import Workloads
from autoscaler.sim.world import SimHost, SimWorld

PolicyName = Literal["kvpool", "fixed-shape"]
Progress = Callable[[float, float], None]
"""Called with (virtual seconds done, virtual seconds in total) as the run advances."""

SCAN_SECONDS = 10.0
# A pod still waiting this long after the scenario's boot time is one a new VM should have
# served: it counts as never scheduled.
NEVER_SCHEDULED_GRACE = 60.0
# A failed VM left longer than this backs nothing and was not cleaned up: a leak.
FAILED_VM_GRACE = 3 * SCAN_SECONDS
_SERVED = (Verdict.FITS_EXISTING, Verdict.FITS_LAUNCHING, Verdict.NEW_VM)
_SAMPLES = 720


@dataclass
class SimulationResult:
    summary: dict[str, Any]
    series: Series


class Simulation:
    """One run of one policy on one scenario; ``run`` may be called once."""

    def __init__(
        self, scenario: Scenario, policy: PolicyName = "kvpool", skip_unchanged: bool = True
    ) -> None:
        self.scenario = scenario
        self.policy_name = policy
        self.engine = engine = Engine()
        streams = RandomStreams(scenario.seed)
        self.pools = Pools(scenario.tenant, scenario.pools)
        tenant = self.pools.tenant
        self.world = world = SimWorld(
            tenant=scenario.tenant.name,
            shape_bounds=tenant.shape_bounds(),
            limits=tenant.tenant_limits(),
            now=lambda: engine.now,
            allowed_zones=tenant.spec.zones,
        )
        world.pools = self.pools.build()
        for group in scenario.hosts:
            for index in range(group.count):
                name = f"{group.name}-{index:03d}"
                world.hosts[name] = SimHost(
                    name,
                    Resources.of(cpu=group.cpu, memory=group.memory),
                    zone=group.zone_of_hosts,
                )
        workloads = self.workloads = Workloads(
            engine,
            world,
            streams,
            scenario.workloads.deployments,
            scenario.workloads.jobs,
            scenario.workloads.daemonsets,
        )
        self.disruptions = disruptions = Disruptions(world, workloads)
        self.kubevirt = kubevirt = KubeVirt(
            engine,
            world,
            streams,
            scenario.vms,
            on_node_registered=workloads.place_daemon_pods,
            on_pod_killed=disruptions.kill,
        )
        self.scheduler = Scheduler(engine, world, scenario.pod_start_delay)
        self.actuator = SimActuator(engine, world, kubevirt, disruptions)
        self.core_config = CoreConfig()
        self.policy, durations, batch = self._policy(policy)
        timers = (
            CoreWakeups(self.policy, self.core_config)
            if isinstance(self.policy, Autoscaler)
            else None
        )
        self.controller = Controller(
            self.policy,
            snapshot=lambda: world.snapshot(disruptions.models()),
            pending=lambda: [p.key for p in pending_pods(world.pods.values())],
            revision=lambda: world.revision,
            execute=self.actuator.execute,
            durations=durations,
            windows=BatchWindows(scan_interval_seconds=SCAN_SECONDS),
            batch_pending=batch,
            timers=timers,
            skip_unchanged=skip_unchanged,
        )
        self.stats = Stats(world, scenario.vms.boot_time + NEVER_SCHEDULED_GRACE)

    def _policy(self, name: PolicyName) -> tuple[Policy, list[float], bool]:
        if name == "fixed-shape":
            shape = self.scenario.baseline
            config = BaselineConfig(shape=Shape(cpu=shape.cpu * 1000, memory=shape.memory))
            return FixedShapeAutoscaler(config), list(config.durations()), False
        if name != "kvpool":
            raise ValueError(f"unknown policy {name!r}; use kvpool or fixed-shape")
        core = self.core_config
        # Timers the core starts in a pass that the snapshot and the core's views do not show:
        # the re-check of a scale-down decision and the pause after a launch.
        durations = [core.scale_down_validation_delay, core.scale_down_cooldown_after_scale_up]
        return Autoscaler(core), durations, True

    def _schedule_event(self, event: TimedEvent) -> None:
        def fire() -> None:
            if event.scale_deployment is not None:
                scale = event.scale_deployment
                self.workloads.set_schedule(f"{scale.namespace}/{scale.name}", scale.replicas)
            if event.submit_jobs is not None:
                self.workloads.submit_jobs(event.submit_jobs.name, event.submit_jobs.count)
            if event.set_pool_annotation is not None:
                change = event.set_pool_annotation
                pool = self.pools.set_annotation(change.pool, change.key, change.value)
                self.world.pools[pool.name] = pool
                self.world.touch()

        self.engine.at(event.at, fire, priority=2)

    def run(self, progress: Progress | None = None) -> SimulationResult:
        engine, duration = self.engine, self.scenario.duration
        started = time.perf_counter()
        for event in self.scenario.events:
            self._schedule_event(event)
        self.workloads.start()
        engine.every(1.0, self.scheduler.cycle, priority=5, start=0.0)
        engine.every(1.0, lambda: self.controller.tick(engine.now), priority=6, start=0.0)
        interval = max(10.0, duration / _SAMPLES)
        engine.every(interval, lambda: self.stats.sample(engine.now), priority=9, start=0.0)
        chunk = max(60.0, duration / 200)
        done = 0.0
        while done < duration:
            done = min(duration, done + chunk)
            engine.run_until(done, on_step=self.stats.advance)
            if progress is not None:
                progress(done, duration)
        self.stats.sample(duration)
        return SimulationResult(self._summary(time.perf_counter() - started), self.stats.series)

    # Summary ---------------------------------------------------------------------------------
    def leaked_vms(self) -> list[str]:
        """VMs that back no registered Node and are past their launch deadline."""
        world, now = self.world, self.engine.now
        leaked = []
        for vm in world.vms.values():
            if vm.phase is VMPhase.DELETING:
                continue
            sim = world.nodes.get(vm.node_name) if vm.node_name is not None else None
            if sim is not None:
                continue
            if vm.phase is VMPhase.FAILED:
                if now - vm.phase_since > FAILED_VM_GRACE:
                    leaked.append(vm.name)
                continue
            deadline = phase_deadline(launch_phase(vm.to_model(), None), self.core_config)
            if deadline is not None and now - vm.phase_since > deadline + SCAN_SECONDS:
                leaked.append(vm.name)
        return sorted(leaked)

    def _summary(self, wall: float) -> dict[str, Any]:
        scenario, stats, kubevirt = self.scenario, self.stats, self.kubevirt
        now = self.engine.now
        never = stats.never_scheduled(now)
        unserved = [
            {
                "verdict": str(e.verdict),
                "pool": e.pool,
                "pods": e.pods,
                "message": e.message,
                "sample": list(e.sample),
            }
            for e in self.controller.last_plan.explanations
            if e.verdict not in _SERVED
        ]
        pending_at_end = sum(1 for p in self.world.unbound_pods() if not p.is_daemonset_pod)
        cpu_prov = stats.cpu_milli_seconds_provisioned / 1000 / 3600
        cpu_req = stats.cpu_milli_seconds_requested / 1000 / 3600
        return {
            "scenario": scenario.name,
            "policy": self.policy_name,
            "seed": scenario.seed,
            "simulated_seconds": round(now, 3),
            "wall_seconds": round(wall, 3),
            "boot_time_seconds": scenario.vms.boot_time,
            "pods_total": self.workloads.pods_created,
            "pods_never_scheduled": len(never),
            "pods_pending_at_end": pending_at_end,
            "pending_seconds_p50": round(percentile(stats.waits, 50), 3),
            "pending_seconds_p99": round(percentile(stats.waits, 99), 3),
            "pending_seconds_max": round(max(stats.waits, default=0.0), 3),
            "vms_launched": kubevirt.launched,
            "vms_deleted": kubevirt.deleted,
            "vms_failed": kubevirt.failed,
            "peak_vms": kubevirt.peak,
            "vcpu_hours_provisioned": round(cpu_prov, 3),
            "vcpu_hours_requested": round(cpu_req, 3),
            "memory_gib_hours_provisioned": round(
                stats.memory_byte_seconds_provisioned / GIB / 3600, 3
            ),
            "memory_gib_hours_requested": round(
                stats.memory_byte_seconds_requested / GIB / 3600, 3
            ),
            "vcpu_provisioned_per_requested": round(cpu_prov / cpu_req, 4) if cpu_req else None,
            "vcpu_hours_breakdown": stats.vcpu_hours_breakdown(),
            "pdb_violations": self.disruptions.violations,
            "evictions": self.disruptions.evictions,
            "evictions_refused": self.disruptions.refused,
            "leaked_vms": len(self.leaked_vms()),
            "unserved": unserved,
            "decisions": self.controller.decisions,
            "decisions_skipped": self.controller.skipped,
            "actions": dict(sorted(self.actuator.executed.items())),
        }


def simulate(
    scenario: Scenario, policy: PolicyName = "kvpool", progress: Progress | None = None
) -> SimulationResult:
    return Simulation(scenario, policy).run(progress)
