"""Liveness in virtual time: pods the tenant's scheduler keeps refusing on nodes the core
believes have room are served with new capacity on the next pass, not left pending for good.

The tenant scheduler here refuses the nodes that existed before the ``picky`` pods arrived
(a rule the core does not model, as a volume's zone would be); the core sees room there.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import autoscaler.core.scaleup as scaleup
import autoscaler.sim.scheduler as sim_scheduler
from autoscaler.core.model import Pod, PodPhase
from autoscaler.core.predicates import NodeState
from autoscaler.sim.runner import Simulation
from autoscaler.sim.scenario import parse_scenario_text

ARRIVAL = 1800.0

SCENARIO = f"""
name: picky
duration: 1h
seed: 1
tenant:
  shapes:
    cpu: {{min: "2", max: "32", step: "2"}}
    memory: {{min: 4Gi, max: 128Gi, step: 2Gi}}
    memoryPerCPU: {{min: 1Gi, max: 8Gi}}
  images:
    - {{name: k8s, containerDisk: registry.example/k8s-worker:v1.31.2}}
hosts:
  - {{name: metal, count: 2, cpu: 96, memory: 768Gi}}
pools:
  - name: general
    annotations: {{kvpool.io/max-nodes: "10", kvpool.io/image: k8s, kvpool.io/cpu: "8-8"}}
workloads:
  deployments:
    - name: web
      namespace: shop
      pod: {{requests: {{cpu: 500m, memory: 1Gi}}}}
      replicas: 20
    - name: picky
      namespace: shop
      pod: {{requests: {{cpu: 250m, memory: 512Mi}}}}
      replicas: {{steps: [{{at: 0s, value: 0}}, {{at: {int(ARRIVAL)}s, value: 3}}]}}
"""


def _picky_scheduler(simulation: Simulation, monkeypatch: pytest.MonkeyPatch) -> None:
    place = sim_scheduler.place_by_default_profile

    def placing(pods: Sequence[Pod], nodes: Sequence[NodeState]) -> dict[str, str]:
        world = simulation.world
        picky = [p for p in pods if p.owner_name == "picky"]
        placed = place([p for p in pods if p.owner_name != "picky"], nodes)
        late = [n for n in nodes if world.nodes[n.name].node.created > ARRIVAL]
        placed.update(place(picky, late))
        return placed

    monkeypatch.setattr(sim_scheduler, "place_by_default_profile", placing)


def _picky_pods(simulation: Simulation) -> list[Pod]:
    return [p for p in simulation.world.pods.values() if p.owner_name == "picky"]


def test_pods_refused_on_nodes_the_scheduler_saw_get_a_new_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulation = Simulation(parse_scenario_text(SCENARIO))
    _picky_scheduler(simulation, monkeypatch)
    summary = simulation.run().summary
    picky = _picky_pods(simulation)
    assert len(picky) == 3
    assert all(p.phase is PodPhase.RUNNING for p in picky)
    nodes = simulation.world.nodes
    assert all(nodes[p.node_name].node.created > ARRIVAL for p in picky if p.node_name)
    assert summary["pods_pending_at_end"] == 0


def test_without_the_rule_the_same_pods_stay_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scaleup, "_after_seen", lambda classes, ready: (classes, []))
    simulation = Simulation(parse_scenario_text(SCENARIO))
    _picky_scheduler(simulation, monkeypatch)
    simulation.run()
    assert all(p.node_name is None for p in _picky_pods(simulation))
