"""Zones: hosts' zone labels decide where new VMs go, and planned nodes carry them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_scaleup import GENERAL, pending, settings, verdicts, world

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.actions import Reason, Verdict
from autoscaler.core.future_node import future_node, future_node_labels, pool_daemonset_overhead
from autoscaler.core.model import (
    NO_ZONE,
    REGION_LABEL,
    ZONE_LABEL,
    DaemonSet,
    Host,
    NodeSelectorTerm,
    Pod,
    Pool,
    Requirement,
    VirtualMachine,
    VMPhase,
    Zone,
)
from autoscaler.core.overhead import GI
from autoscaler.core.scaleup import plan_scale_up
from autoscaler.core.zones import by_free_room, free_by_zone, in_allowed_zones, pool_zones, zones_of

ZONE_A = Zone("zone-a", "eu-west")
ZONE_B = Zone("zone-b", "eu-west")
ZONE_C = Zone("zone-c", "eu-east")


def host(name: str, zone: Zone, cpu: int = 64_000, memory: int = 256 * GI, **kw: object) -> Host:
    return Host(name, Resources.of(cpu=cpu, memory=memory), labels=zone.labels, **kw)  # type: ignore[arg-type]


ZONED = (
    host("a-1", ZONE_A),
    host("b-1", ZONE_B),
    host("b-2", ZONE_B),
    host("c-1", ZONE_C),
)


def in_zone(zone: str) -> dict[str, object]:
    return {"node_selector": {ZONE_LABEL: zone}}


def affinity(key: str, operator: str, *values: str) -> dict[str, object]:
    term = NodeSelectorTerm((Requirement(key, operator, values),))
    return {"required_node_affinity": (term,)}


def test_zone_labels_and_names() -> None:
    assert ZONE_A.labels == {ZONE_LABEL: "zone-a", REGION_LABEL: "eu-west"}
    assert Zone("z").labels == {ZONE_LABEL: "z"}
    assert NO_ZONE.labels == {}
    assert str(ZONE_A) == "eu-west/zone-a"
    assert str(NO_ZONE) == "no zone"
    assert host("h", ZONE_B).zone == ZONE_B
    assert Host("h", Resources()).zone == NO_ZONE


def test_zones_of_sorts_by_region_then_zone_and_skips_unschedulable_hosts() -> None:
    hosts = (*ZONED, host("d-1", Zone("zone-d", "eu-west"), schedulable=False))
    assert zones_of(hosts) == (ZONE_C, ZONE_A, ZONE_B)


def test_tenant_zone_restriction_keeps_only_hosts_in_those_zones() -> None:
    unlabelled = Host("bare", Resources.of(cpu=1000, memory=GI))
    hosts = (*ZONED, unlabelled)
    assert in_allowed_zones(hosts, None) == hosts
    assert [h.name for h in in_allowed_zones(hosts, ["zone-b"])] == ["b-1", "b-2"]
    assert in_allowed_zones(hosts, []) == ()


def test_pool_template_zone_label_restricts_its_zones() -> None:
    zones = (ZONE_A, ZONE_B, ZONE_C)
    assert pool_zones(GENERAL, zones) == zones
    pinned = replace(GENERAL, labels={**GENERAL.labels, ZONE_LABEL: "zone-b"})
    assert pool_zones(pinned, zones) == (ZONE_B,)
    west = replace(GENERAL, labels={REGION_LABEL: "eu-west"})
    assert pool_zones(west, zones) == (ZONE_A, ZONE_B)


def test_zones_by_free_room() -> None:
    free = free_by_zone(ZONED)
    assert free[ZONE_B] == Resources.of(cpu=128_000, memory=512 * GI)
    assert by_free_room((ZONE_A, ZONE_B, ZONE_C), free) == (ZONE_B, ZONE_C, ZONE_A)


def test_new_node_of_a_pool_in_a_zone_carries_the_zone_labels() -> None:
    labels = future_node_labels(GENERAL, "n1", zone=ZONE_A)
    assert labels[ZONE_LABEL] == "zone-a" and labels[REGION_LABEL] == "eu-west"
    node = future_node("n1", GENERAL, Resources.of(cpu=4000, memory=8 * GI), zone=ZONE_C)
    assert node.labels[ZONE_LABEL] == "zone-c"
    assert node.static_failure(Pod("d", "p", **in_zone("zone-c"))) is None  # type: ignore[arg-type]
    assert node.static_failure(Pod("d", "p", **in_zone("zone-a"))) is not None  # type: ignore[arg-type]
    assert ZONE_LABEL not in future_node_labels(GENERAL, "n1")


@pytest.mark.parametrize(
    ("constraint", "zone"),
    [
        (in_zone("zone-a"), ZONE_A),
        (in_zone("zone-c"), ZONE_C),
        (affinity(ZONE_LABEL, "In", "zone-a", "zone-c"), ZONE_C),  # more free room than a
        (affinity(ZONE_LABEL, "NotIn", "zone-b", "zone-c"), ZONE_A),
        (affinity(REGION_LABEL, "In", "eu-east"), ZONE_C),
        ({"node_selector": {REGION_LABEL: "eu-west"}}, ZONE_B),  # b has two hosts
        ({}, ZONE_B),  # no constraint: the zone with the most free room
    ],
)
def test_pod_requiring_a_zone_or_region_gets_a_vm_on_a_host_there(
    constraint: dict[str, object], zone: Zone
) -> None:
    result = plan_scale_up(world(pending(2, **constraint), hosts=ZONED), [GENERAL])
    assert len(result.launches) == 1
    launch = result.launches[0]
    assert launch.zone == zone
    assert {h.name: h.zone for h in ZONED}[launch.host or ""] == zone
    assert f"in zone {zone}" in next(e.message for e in result.explanations)


def test_pod_requiring_a_zone_without_hosts_is_refused_by_every_pool() -> None:
    result = plan_scale_up(world(pending(1, **in_zone("zone-x")), hosts=ZONED), [GENERAL])
    assert result.launches == ()
    assert verdicts(result) == {Verdict.NO_POOL_MATCHES: 1}
    (explanation,) = result.explanations
    assert "hosts are in zone(s) eu-east/zone-c, eu-west/zone-a, eu-west/zone-b" in (
        explanation.message
    )


def test_hosts_without_zone_labels_plan_unzoned_vms_as_before() -> None:
    result = plan_scale_up(world(pending(3)), [GENERAL])
    assert [launch.zone for launch in result.launches] == [NO_ZONE]
    # A pod asking for a zone finds no node that will carry one.
    refused = plan_scale_up(world(pending(1, **in_zone("zone-a"))), [GENERAL])
    assert verdicts(refused) == {Verdict.NO_POOL_MATCHES: 1}


def test_a_full_zone_passes_pods_to_the_next_zone_of_the_pool() -> None:
    # Zone a has the most free room in total, but no single host there takes a 12-cpu pod.
    hosts = (
        *(host(f"a-{i}", ZONE_A, cpu=8000, memory=32 * GI) for i in range(4)),
        host("b-1", ZONE_B, cpu=16_000, memory=64 * GI),
    )
    result = plan_scale_up(world(pending(1, cpu=12_000, memory=8 * GI), hosts=hosts), [GENERAL])
    assert [(launch.zone, launch.host) for launch in result.launches] == [(ZONE_B, "b-1")]
    assert result.pool_messages == ()  # zone a being full says nothing about the pool


def test_every_zone_full_reports_hosts_full_with_each_zone() -> None:
    hosts = (host("a-1", ZONE_A, cpu=4000, memory=16 * GI), host("b-1", ZONE_B, cpu=4000))
    result = plan_scale_up(world(pending(1, cpu=12_000, memory=8 * GI), hosts=hosts), [GENERAL])
    assert result.launches == ()
    (explanation,) = result.explanations
    assert explanation.verdict is Verdict.HOSTS_FULL
    assert "in zone eu-west/zone-a" in explanation.message
    assert "in zone eu-west/zone-b" in explanation.message
    assert dict(result.pool_messages)["general"]


def test_pool_whose_template_names_a_zone_launches_only_there() -> None:
    pinned = replace(GENERAL, labels={**GENERAL.labels, ZONE_LABEL: "zone-a"})
    result = plan_scale_up(world(pending(2), pools=(pinned,), hosts=ZONED), [pinned])
    assert [launch.zone for launch in result.launches] == [ZONE_A]
    nowhere = replace(GENERAL, labels={ZONE_LABEL: "zone-x"})
    refused = plan_scale_up(world(pending(1), pools=(nowhere,), hosts=ZONED), [nowhere])
    assert refused.launches == ()
    assert verdicts(refused) == {Verdict.HOSTS_FULL: 1}


def test_launching_vm_becomes_a_node_in_its_zone() -> None:
    vm = VirtualMachine(
        "vm-1",
        "general",
        Shape(8000, 32 * GI),
        "abc123",
        0.0,
        VMPhase.SCHEDULED,
        host="b-1",
        zone=ZONE_B,
    )
    snapshot = world(pending(1, **in_zone("zone-b")), vms=(vm,), hosts=ZONED)
    assert verdicts(plan_scale_up(snapshot, [GENERAL])) == {Verdict.FITS_LAUNCHING: 1}
    elsewhere = world(pending(1, **in_zone("zone-a")), vms=(vm,), hosts=ZONED)
    result = plan_scale_up(elsewhere, [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}
    assert result.launches[0].zone == ZONE_A


def test_min_nodes_take_turns_over_the_zones() -> None:
    pool = Pool("general", {"pool": "general"}, settings=settings(min_nodes=4), image_hash="h")
    result = plan_scale_up(world([], pools=(pool,), hosts=ZONED), [pool])
    assert all(launch.reason is Reason.MIN_NODES for launch in result.launches)
    zones = sorted(str(launch.zone) for launch in result.launches)
    assert zones == sorted(str(z) for z in (ZONE_B, ZONE_C, ZONE_A, ZONE_B))


def test_daemonset_overhead_follows_the_zone_of_the_new_node() -> None:
    only_a = DaemonSet(
        "kube-system",
        "zonal-agent",
        Pod(
            "kube-system",
            "t",
            requests=Resources.of(cpu=500),
            owner_kind="DaemonSet",
            **in_zone("zone-a"),
        ),  # type: ignore[arg-type]
    )
    assert pool_daemonset_overhead(GENERAL, [only_a], ZONE_A).cpu == 500
    assert pool_daemonset_overhead(GENERAL, [only_a], ZONE_B).cpu == 0
