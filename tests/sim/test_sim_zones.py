"""Zones in the simulator: hosts in zones, pinned VMs, zone-labelled nodes."""

from __future__ import annotations

from autoscaler.core.model import REGION_LABEL, ZONE_LABEL, PodPhase, Zone
from autoscaler.sim.runner import Simulation
from autoscaler.sim.scenario import parse_scenario_text

SCENARIO = """
name: zones
duration: 20m
seed: 3
tenant:
  name: team-a
  shapes:
    cpu: {min: "2", max: "16", step: "2"}
    memory: {min: 4Gi, max: 64Gi, step: 2Gi}
    memoryPerCPU: {min: 1Gi, max: 8Gi}
  images:
    - {name: k8s, containerDisk: registry.example/k8s-worker:v1.31.2}
  %(tenant_zones)s
hosts:
  - {name: west-a, count: 2, cpu: 32, memory: 128Gi, zone: zone-a, region: west}
  - {name: west-b, count: 1, cpu: 32, memory: 128Gi, zone: zone-b, region: west}
  - {name: east-c, count: 3, cpu: 32, memory: 128Gi, zone: zone-c, region: east}
pools:
  - name: general
    annotations:
      kvpool.io/max-nodes: "20"
      kvpool.io/image: k8s
vms:
  bootDelay: {distribution: fixed, min: 30s, max: 30s}
workloads:
  deployments:
    - name: web-b
      pod: {requests: {cpu: 500m, memory: 1Gi}, nodeSelector: {%(zone)s: zone-b}}
      replicas: {steps: [{at: 0s, value: 6}]}
    - name: east
      pod: {requests: {cpu: 500m, memory: 1Gi}, nodeSelector: {%(region)s: east}}
      replicas: {steps: [{at: 0s, value: 6}]}
    - name: anywhere
      pod: {requests: {cpu: 500m, memory: 1Gi}}
      replicas: {steps: [{at: 0s, value: 6}]}
"""


def run(tenant_zones: str = "") -> Simulation:
    text = SCENARIO % {"zone": ZONE_LABEL, "region": REGION_LABEL, "tenant_zones": tenant_zones}
    simulation = Simulation(parse_scenario_text(text))
    simulation.run()
    return simulation


def test_vms_run_on_hosts_of_their_zone_and_nodes_carry_its_labels() -> None:
    simulation = run()
    world = simulation.world
    assert world.hosts["west-b-000"].zone == Zone("zone-b", "west")
    for vm in world.vms.values():
        assert vm.host is not None
        assert world.hosts[vm.host].zone == vm.zone
        node = world.nodes[vm.node_name or ""].node
        assert node.labels[ZONE_LABEL] == vm.zone.name
        assert node.labels[REGION_LABEL] == vm.zone.region
    running = [p for p in world.pods.values() if p.phase is PodPhase.RUNNING]
    assert len(running) == 18
    for pod in running:
        labels = world.nodes[pod.node_name or ""].node.labels
        for key, value in pod.node_selector.items():
            assert labels[key] == value


def test_a_tenant_restricted_to_zones_uses_only_their_hosts() -> None:
    simulation = run("zones: [zone-a, zone-c]")
    world = simulation.world
    assert {vm.zone.name for vm in world.vms.values()} <= {"zone-a", "zone-c"}
    pending = [p for p in world.pods.values() if p.phase is PodPhase.PENDING]
    assert len(pending) == 6
    assert all(p.node_selector == {ZONE_LABEL: "zone-b"} for p in pending)
