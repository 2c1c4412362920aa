"""Each shipped scenario, on a short horizon, keeps the product's guarantees.

These drive the real decision core inside the simulator in virtual time.
"""

from __future__ import annotations

import pytest

from autoscaler.core.actions import Verdict
from autoscaler.sim.runner import Simulation, simulate
from autoscaler.sim.scenario import load_scenario
from autoscaler.sim.stats import VCPU_BREAKDOWN

SHORT = {
    "default": 1800.0,
    "diurnal": 1800.0,
    "burst": 1500.0,
    "host-exhaustion": 1200.0,
    "image-rollout": 4500.0,
    "boot-failures": 3600.0,
}


def _run(name: str) -> Simulation:
    simulation = Simulation(load_scenario(name).with_overrides(duration=SHORT[name]))
    simulation.run()
    return simulation


@pytest.fixture(scope="module")
def runs() -> dict[str, Simulation]:
    return {name: _run(name) for name in SHORT}


@pytest.mark.parametrize("name", sorted(SHORT))
def test_the_vcpu_breakdown_accounts_for_every_provisioned_vcpu_hour(
    runs: dict[str, Simulation], name: str
) -> None:
    summary = runs[name]._summary(0.0)
    parts = summary["vcpu_hours_breakdown"]
    assert set(parts) == set(VCPU_BREAKDOWN)
    assert all(hours >= 0 for hours in parts.values()), parts
    assert parts["requested"] == pytest.approx(summary["vcpu_hours_requested"], abs=0.1)
    provisioned = summary["vcpu_hours_provisioned"]
    assert sum(parts.values()) == pytest.approx(provisioned, rel=0.001, abs=0.5)
    assert parts["kubelet_reserved"] > 0 and parts["vms_not_ready"] > 0


@pytest.mark.parametrize("name", sorted(SHORT))
def test_no_budget_is_broken_and_no_vm_leaks(runs: dict[str, Simulation], name: str) -> None:
    summary = runs[name]._summary(0.0)
    assert summary["pdb_violations"] == 0
    assert summary["leaked_vms"] == 0
    assert summary["pods_total"] > 0
    assert summary["vms_launched"] > 0


@pytest.mark.parametrize("name", sorted(set(SHORT) - {"host-exhaustion"}))
def test_every_pod_is_scheduled(runs: dict[str, Simulation], name: str) -> None:
    summary = runs[name]._summary(0.0)
    assert summary["pods_never_scheduled"] == 0
    assert summary["pending_seconds_p50"] <= summary["pending_seconds_p99"]


def test_host_exhaustion_explains_every_unserved_pod(runs: dict[str, Simulation]) -> None:
    simulation = runs["host-exhaustion"]
    summary = simulation._summary(0.0)
    assert summary["pods_never_scheduled"] > 0
    verdicts = {row["verdict"] for row in summary["unserved"]}
    assert {Verdict.HOSTS_FULL, Verdict.EXCEEDS_LARGEST_SHAPE, Verdict.NO_POOL_MATCHES} <= verdicts
    assert sum(row["pods"] for row in summary["unserved"]) >= summary["pods_never_scheduled"]
    # Nothing thrashes: no VM is launched only to be deleted again, and hosts stay full.
    assert summary["vms_deleted"] == 0
    world = simulation.world
    assert all(vm.host is not None for vm in world.vms.values())


def test_image_rollout_replaces_every_old_node(runs: dict[str, Simulation]) -> None:
    simulation = runs["image-rollout"]
    summary = simulation._summary(0.0)
    pool = simulation.world.pools["general"]
    nodes = [sim.node for sim in simulation.world.nodes.values()]
    assert nodes
    assert all(node.image_hash == pool.image_hash for node in nodes)
    assert summary["actions"].get("DeleteVM:Drifted", 0) > 0
    assert summary["evictions"] > 0


def test_boot_failures_are_deleted_replaced_and_backed_off(runs: dict[str, Simulation]) -> None:
    summary = runs["boot-failures"]._summary(0.0)
    actions = summary["actions"]
    assert summary["vms_failed"] > 0
    deleted_for_failing = actions.get("DeleteVM:BootFailed", 0) + actions.get(
        "DeleteVM:LaunchTimeout", 0
    )
    assert deleted_for_failing > 0
    assert summary["vms_launched"] > summary["peak_vms"]


def test_the_same_seed_gives_the_same_numbers() -> None:
    scenario = load_scenario("boot-failures").with_overrides(duration=1200.0)
    first = simulate(scenario).summary
    second = simulate(scenario).summary
    for summary in (first, second):
        summary.pop("wall_seconds")
    assert first == second
    other = simulate(scenario.with_overrides(seed=99)).summary
    other.pop("wall_seconds")
    assert other != first


def test_skipping_unchanged_scans_changes_nothing() -> None:
    scenario = load_scenario("default").with_overrides(duration=2400.0)
    skipping = Simulation(scenario).run().summary
    every = Simulation(scenario, skip_unchanged=False).run().summary
    assert skipping["decisions_skipped"] > 0
    assert every["decisions_skipped"] == 0
    for key in ("wall_seconds", "decisions", "decisions_skipped"):
        skipping.pop(key)
        every.pop(key)
    assert skipping == every


def test_the_fixed_shape_baseline_runs_the_same_world() -> None:
    scenario = load_scenario("default").with_overrides(duration=1800.0)
    summary = simulate(scenario, "fixed-shape").summary
    assert summary["policy"] == "fixed-shape"
    assert summary["pdb_violations"] == 0
    assert summary["pods_never_scheduled"] == 0
    assert summary["actions"].get("LaunchVM:PendingPods", 0) > 0
