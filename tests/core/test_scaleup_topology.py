"""Scale-up planning under topology spread and inter-pod affinity."""

from __future__ import annotations

from dataclasses import replace

from test_scaleup import GENERAL, node, pending, verdicts, world

from autoscaler.api.resources import Resources
from autoscaler.core.actions import Verdict
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    Host,
    LabelSelector,
    Node,
    Pod,
    PodAffinityTerm,
    PodPhase,
    TopologySpreadConstraint,
)
from autoscaler.core.overhead import GI
from autoscaler.core.scaleup import plan_scale_up

ZONE = "topology.kubernetes.io/zone"
WEB = LabelSelector(match_labels=(("app", "web"),))


def web(count: int, prefix: str = "p", **kw: object) -> list[Pod]:
    pods = pending(count, prefix=prefix)
    return [replace(p, labels={"app": "web"}, **kw) for p in pods]  # type: ignore[arg-type]


def running(name: str, on: str, labels: dict[str, str], cpu: int = 3500, **kw: object) -> Pod:
    return Pod(
        "default",
        name,
        requests=Resources.of(cpu, GI),
        labels=labels,
        node_name=on,
        phase=PodPhase.RUNNING,
        **kw,  # type: ignore[arg-type]
    )


def test_hostname_spread_gets_one_vm_per_pod_the_scheduler_would_place() -> None:
    """Three pods spread by hostname (maxSkew 1) next to a full node without one of theirs:
    each new VM may take only one, so the plan launches three."""
    spread = (TopologySpreadConstraint(1, HOSTNAME_LABEL, WEB),)
    pods = web(3, topology_spread=spread)
    filler = running("filler", "n1", {"app": "other"})
    result = plan_scale_up(world([filler, *pods], nodes=(node("n1"),)), [GENERAL])
    assert [len(launch.pods) for launch in result.launches] == [1, 1, 1]
    assert verdicts(result) == {Verdict.NEW_VM: 3}


def test_without_constraints_the_same_pods_share_a_vm() -> None:
    filler = running("filler", "n1", {"app": "other"})
    result = plan_scale_up(world([filler, *web(3)], nodes=(node("n1"),)), [GENERAL])
    assert [len(launch.pods) for launch in result.launches] == [3]


def test_new_vms_do_not_rely_on_a_minimum_other_new_vms_would_lower() -> None:
    """Every existing node holds one of the group, so one new VM alone could take two. But the
    VMs of a plan come up together, each an empty domain until it gets one: while they are
    empty the global minimum is zero, and a VM planned for two could end up refusing its
    second pod. So each new VM is planned for at most maxSkew of the group."""
    spread = (TopologySpreadConstraint(1, HOSTNAME_LABEL, WEB),)
    existing = [running("w1", "n1", {"app": "web"})]
    result = plan_scale_up(
        world([*existing, *web(3, topology_spread=spread)], nodes=(node("n1"),)), [GENERAL]
    )
    assert [len(launch.pods) for launch in result.launches] == [1, 1, 1]
    with_skew_two = (TopologySpreadConstraint(2, HOSTNAME_LABEL, WEB),)
    result = plan_scale_up(
        world([*existing, *web(3, topology_spread=with_skew_two)], nodes=(node("n1"),)),
        [GENERAL],
    )
    assert sorted(len(launch.pods) for launch in result.launches) == [1, 2]


def test_zone_spread_needs_new_nodes_with_a_zone() -> None:
    """A new VM of a pool whose template has no zone label is no domain of a zone constraint:
    the scheduler would refuse it, so nothing is launched and the reason names the label."""
    spread = (TopologySpreadConstraint(1, ZONE, WEB),)
    result = plan_scale_up(world(web(2, topology_spread=spread)), [GENERAL])
    assert result.launches == ()
    assert verdicts(result) == {Verdict.CONSTRAINTS_UNSATISFIED: 2}
    assert "missing required label" in result.explanations[0].message


ZONED_HOSTS = (
    Host("host-a", Resources.of(cpu=256_000, memory=1024 * GI), labels={ZONE: "zone-a"}),
    Host("host-b", Resources.of(cpu=128_000, memory=512 * GI), labels={ZONE: "zone-b"}),
)


def zoned_node(name: str, zone: str) -> Node:
    base = node(name)
    return replace(base, labels={**base.labels, ZONE: zone})


def test_zone_spread_picks_the_zone_the_skew_needs() -> None:
    """Zone a holds one of the group and zone b none (both nodes full): the first pod can
    only go to zone b, although zone a's hosts have more room; then the zones take turns."""
    spread = (TopologySpreadConstraint(1, ZONE, WEB),)
    nodes = (zoned_node("n-a", "zone-a"), zoned_node("n-b", "zone-b"))
    full = [
        running("w-a", "n-a", {"app": "web"}, cpu=4000),
        running("x-b", "n-b", {"app": "other"}, cpu=4000),
    ]
    one = plan_scale_up(
        world([*full, *web(1, topology_spread=spread)], nodes=nodes, hosts=ZONED_HOSTS),
        [GENERAL],
    )
    assert [launch.zone.name for launch in one.launches] == ["zone-b"]
    three = plan_scale_up(
        world([*full, *web(3, topology_spread=spread)], nodes=nodes, hosts=ZONED_HOSTS),
        [GENERAL],
    )
    zones = sorted(z for launch in three.launches for z in [launch.zone.name] * len(launch.pods))
    assert zones == ["zone-a", "zone-b", "zone-b"]
    assert verdicts(three) == {Verdict.NEW_VM: 3}


def test_existing_zone_anti_affinity_keeps_other_pods_off_the_whole_zone() -> None:
    """A running pod refuses web pods in its zone: the free node in that zone is no use."""
    zone_a = {"pool": "general", ZONE: "a"}
    n1 = replace(node("n1"), labels={**node("n1").labels, **zone_a})
    n2 = replace(node("n2"), labels={**node("n2").labels, **zone_a})
    guard = running(
        "guard",
        "n1",
        {"app": "guard"},
        required_anti_affinity=(PodAffinityTerm(WEB, ZONE),),
    )
    result = plan_scale_up(world([guard, *web(1)], nodes=(n1, n2)), [GENERAL])
    assert verdicts(result) == {Verdict.NEW_VM: 1}


def test_required_affinity_to_a_pod_on_a_full_node_cannot_be_served_by_a_new_vm() -> None:
    db = running("db", "n1", {"app": "db"}, cpu=4000)
    affinity = (PodAffinityTerm(LabelSelector(match_labels=(("app", "db"),)), HOSTNAME_LABEL),)
    result = plan_scale_up(
        world([db, *web(1, required_affinity=affinity)], nodes=(node("n1"),)), [GENERAL]
    )
    assert result.launches == ()
    assert verdicts(result) == {Verdict.CONSTRAINTS_UNSATISFIED: 1}
    assert "pod affinity" in result.explanations[0].message


def test_a_pending_pod_whose_constraint_cannot_be_read_is_not_planned() -> None:
    field = "spec.topologySpreadConstraints[0].nodeTaintsPolicy"
    odd = web(1, "odd", unmodelled=(f"{field}: 'Maybe' is not Honor or Ignore",))
    result = plan_scale_up(world([*odd, *web(2)], nodes=(node("n1"),)), [GENERAL])
    assert all(odd[0].key not in launch.pods for launch in result.launches)
    (explained,) = [e for e in result.explanations if odd[0].key in e.sample]
    assert explained.verdict is Verdict.UNMODELLED and field in explained.message
    assert result.placements == {p.key: "n1" for p in web(2)}
