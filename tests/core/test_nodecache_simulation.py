"""Over a simulated run, the core decides exactly the same with and without its node cache."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.core.actions import Plan
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.model import Snapshot
from autoscaler.sim.runner import Simulation
from autoscaler.sim.scenario import load_scenario


def _run(scenario: str, seconds: float, reuse: bool) -> tuple[list[Plan], dict[str, Any], int]:
    sim = Simulation(load_scenario(scenario).with_overrides(duration=seconds))
    core = sim.policy
    assert isinstance(core, Autoscaler)
    core.node_cache.enabled = reuse
    plans: list[Plan] = []
    decide = core.decide

    def recording(snapshot: Snapshot, now: float) -> Plan:
        plan = decide(snapshot, now)
        plans.append(plan)
        return plan

    core.decide = recording  # type: ignore[method-assign]
    summary = dict(sim.run().summary)
    del summary["wall_seconds"]
    return plans, summary, core.node_cache.hits


@pytest.mark.parametrize(
    ("scenario", "seconds"),
    [("diurnal", 3 * 3600.0), ("image-rollout", 3600.0), ("burst", 1800.0)],
)
def test_simulated_decisions_match_without_the_cache(scenario: str, seconds: float) -> None:
    cached_plans, cached_summary, hits = _run(scenario, seconds, reuse=True)
    fresh_plans, fresh_summary, _ = _run(scenario, seconds, reuse=False)

    assert hits > 0
    assert len(cached_plans) == len(fresh_plans)
    for index, (cached, fresh) in enumerate(zip(cached_plans, fresh_plans, strict=True)):
        assert cached == fresh, f"decision {index} differs"
    assert cached_summary == fresh_summary
