"""Nodes that crash after being Ready are repaired by the real core inside the simulator."""

from __future__ import annotations

import pytest

from autoscaler.core.actions import DeleteVM, Plan, Reason
from autoscaler.core.model import PodPhase
from autoscaler.sim.actuator import SimActuator
from autoscaler.sim.runner import Simulation
from autoscaler.sim.scenario import ScenarioError, parse_scenario_text

SCENARIO = """
name: crashes
duration: 3h
seed: 2
tenant:
  shapes:
    cpu: {min: "2", max: "32", step: "2"}
    memory: {min: 4Gi, max: 128Gi, step: 2Gi}
    memoryPerCPU: {min: 1Gi, max: 8Gi}
  images:
    - {name: k8s, containerDisk: registry.example/k8s-worker:v1.31.2}
hosts:
  - {name: metal, count: 4, cpu: 96, memory: 768Gi}
pools:
  - name: general
    annotations: {kvpool.io/max-nodes: "40", kvpool.io/image: k8s, kvpool.io/cpu: "2-4"}
vms:
  crashAfterReady: {share: 0.15, after: {min: 10m, max: 1h}}
workloads:
  daemonsets:
    - name: node-exporter
      pod: {requests: {cpu: 100m, memory: 128Mi}, tolerations: [{operator: Exists}]}
  deployments:
    - name: web
      namespace: shop
      pod: {requests: {cpu: 500m, memory: 1Gi}}
      replicas: 80
      pdb: {maxUnavailable: 1}
"""


def test_every_crashed_node_is_repaired_and_its_pods_served_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deleted: dict[str, Reason] = {}
    execute = SimActuator.execute

    def recording(self: SimActuator, plan: Plan) -> None:
        for action in plan.actions:
            if isinstance(action, DeleteVM):
                deleted.setdefault(action.vm, action.reason)
        execute(self, plan)

    monkeypatch.setattr(SimActuator, "execute", recording)
    simulation = Simulation(parse_scenario_text(SCENARIO))
    summary = simulation.run().summary

    crashed = simulation.kubevirt.crashed
    assert len(crashed) >= 2
    assert {vm: deleted.get(vm) for vm in crashed} == dict.fromkeys(crashed, Reason.UNHEALTHY)
    assert summary["actions"]["DeleteVM:Unhealthy"] == len(crashed)
    world = simulation.world
    assert not set(crashed) & set(world.vms)
    assert all(sim.node.ready for sim in world.nodes.values())
    web = [p for p in world.pods.values() if p.owner_name == "web"]
    assert len(web) == 80
    assert all(p.node_name is not None and p.phase is PodPhase.RUNNING for p in web)
    assert summary["pods_never_scheduled"] == 0
    assert summary["leaked_vms"] == 0
    assert summary["pdb_violations"] == 0


def test_crash_after_ready_is_validated() -> None:
    bad = SCENARIO.replace("share: 0.15", "share: 1.5")
    with pytest.raises(ScenarioError, match=r"vms\.crashAfterReady\.share"):
        parse_scenario_text(bad)
    unknown = SCENARIO.replace("share: 0.15", "shares: 0.15")
    with pytest.raises(ScenarioError, match="allowed fields: after, share"):
        parse_scenario_text(unknown)
    assert parse_scenario_text(SCENARIO).vms.crash_after_ready.share == 0.15
