"""Volume topology: kube-scheduler's VolumeZone, VolumeBinding and VolumeRestrictions filters.

The tables carry the inputs and expected outcomes of kube-scheduler's own filter tests:
pkg/scheduler/framework/plugins/volumezone/volume_zone_test.go (TestSingleZone,
TestMultiZone, TestWithBinding), pkg/scheduler/framework/plugins/volumebinding/
volume_binding_test.go (TestVolumeBinding, its Filter outcomes) and
pkg/scheduler/framework/plugins/volumerestrictions/volume_restrictions_test.go
(TestAccessModeConflicts). A case passes when the constrained pod's node affinity admits the
node exactly when kube-scheduler's filter does, and a pod kube-scheduler rejects in PreFilter
is blocked with its message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from test_autoscaler_world import make_node, make_pod
from test_autoscaler_world import world as scale_down_world
from test_scaleup import pending, world

from autoscaler.api.resources import Resources
from autoscaler.core.actions import LaunchVM, Verdict
from autoscaler.core.autoscaler import Autoscaler
from autoscaler.core.config import CoreConfig
from autoscaler.core.model import (
    Host,
    LabelSelector,
    NodeSelectorTerm,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Requirement,
    Snapshot,
    StorageClass,
    VolumeBindingMode,
)
from autoscaler.core.predicates import selector_mismatch
from autoscaler.core.volume_topology import (
    BIND_CONFLICT,
    MISSING_PV,
    RWOP_CONFLICT,
    UNBOUND_IMMEDIATE,
    StorageIndex,
    VolumeTopology,
    and_terms,
    can_bind,
    constrained,
)

BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION = "failure-domain.beta.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
GI = 2**30


def pod(*claims: str, name: str = "pod_1", node: str | None = None) -> Pod:
    return Pod("default", name, claims=claims, node_name=node)


def bound(name: str, volume: str, **kw: object) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        "default",
        name,
        volume_name=volume,
        bind_completed=True,
        **kw,  # type: ignore[arg-type]
    )


def admits(index: StorageIndex, the_pod: Pod, labels: Mapping[str, str]) -> bool | str:
    """True when the node is admitted, False when not, the reason when the pod is blocked."""
    constraint = index.constraint(the_pod)
    if constraint.blocked:
        return constraint.blocked
    return selector_mismatch(constrained(the_pod, constraint), labels, "host1") is None


def affinity(**requirements: list[str]) -> tuple[NodeSelectorTerm, ...]:
    """A PV node affinity of one term, as upstream's withNodeAffinity builds it."""
    return (
        NodeSelectorTerm(tuple(Requirement(k, "In", tuple(v)) for k, v in requirements.items())),
    )


# VolumeZone: TestSingleZone ------------------------------------------------------------------
SINGLE_ZONE_PVS = (
    PersistentVolume("Vol_1", labels={BETA_ZONE: "us-west1-a"}),
    PersistentVolume("Vol_2", labels={BETA_REGION: "us-west1", "uselessLabel": "none"}),
    PersistentVolume("Vol_3", labels={BETA_REGION: "us-west1"}),
    PersistentVolume("Vol_Stable_1", labels={ZONE: "us-west1-a"}),
    PersistentVolume("Vol_Stable_2", labels={REGION: "us-west1", "uselessLabel": "none"}),
    PersistentVolume("Vol_Stable_3", labels={ZONE: "us-west1-a", REGION: "us-west1-a"}),
)
SINGLE_ZONE_PVCS = tuple(
    bound(claim, volume)
    for claim, volume in [
        ("PVC_1", "Vol_1"),
        ("PVC_2", "Vol_2"),
        ("PVC_3", "Vol_3"),
        ("PVC_4", "Vol_not_exist"),
        ("PVC_Stable_1", "Vol_Stable_1"),
        ("PVC_Stable_2", "Vol_Stable_2"),
        ("PVC_Stable_3", "Vol_Stable_3"),
    ]
)


@pytest.mark.parametrize(
    ("claims", "labels", "expected"),
    [
        pytest.param((), {BETA_ZONE: "us-west1-a"}, True, id="pod without volume"),
        pytest.param(("PVC_1",), {}, True, id="node without labels"),
        pytest.param(
            ("PVC_1",), {BETA_ZONE: "us-west1-a", "uselessLabel": "none"}, True, id="beta zone"
        ),
        pytest.param(
            ("PVC_2",), {BETA_REGION: "us-west1", "uselessLabel": "none"}, True, id="beta region"
        ),
        pytest.param(
            ("PVC_2",), {BETA_REGION: "no_us-west1"}, False, id="beta region doesn't match"
        ),
        pytest.param(("PVC_1",), {BETA_ZONE: "no_us-west1-a"}, False, id="beta zone mismatch"),
        pytest.param(("PVC_Stable_1",), {ZONE: "us-west1-a"}, True, id="zone label matched"),
        pytest.param(("PVC_Stable_2",), {REGION: "us-west1"}, True, id="region label matched"),
        pytest.param(("PVC_Stable_2",), {REGION: "no_us-west1"}, False, id="region mismatch"),
        pytest.param(("PVC_Stable_1",), {ZONE: "no_us-west1-a"}, False, id="zone mismatch"),
        pytest.param(
            ("PVC_Stable_3",), {ZONE: "us-west1-a"}, False, id="pv zone and region, node zone"
        ),
        pytest.param(
            ("PVC_Stable_1",), {BETA_ZONE: "us-west1-a"}, False, id="pv zone, node beta zone"
        ),
        pytest.param(("PVC_1",), {ZONE: "us-west1-a"}, True, id="pv beta, node ga, matched"),
        pytest.param(("PVC_1",), {ZONE: "us-west1-b"}, False, id="pv beta, node ga, mismatch"),
    ],
)
def test_volume_zone_single_zone(
    claims: tuple[str, ...], labels: dict[str, str], expected: bool
) -> None:
    index = StorageIndex(SINGLE_ZONE_PVCS, SINGLE_ZONE_PVS, (), ())
    assert admits(index, pod(*claims), labels) == expected


# VolumeZone: TestMultiZone -------------------------------------------------------------------
MULTI_ZONE_PVS = (
    PersistentVolume("Vol_1", labels={BETA_ZONE: "us-west1-a"}),
    PersistentVolume("Vol_2", labels={BETA_ZONE: "us-west1-b", "uselessLabel": "none"}),
    PersistentVolume("Vol_3", labels={BETA_ZONE: "us-west1-c__us-west1-a"}),
    PersistentVolume("Vol_Stable_1", labels={ZONE: "us-west1-a"}),
    PersistentVolume("Vol_Stable_2", labels={ZONE: "us-west1-c__us-west1-a"}),
)
MULTI_ZONE_PVCS = tuple(
    bound(claim, volume)
    for claim, volume in [
        ("PVC_1", "Vol_1"),
        ("PVC_2", "Vol_2"),
        ("PVC_3", "Vol_3"),
        ("PVC_4", "Vol_not_exist"),
        ("PVC_Stable_1", "Vol_Stable_1"),
        ("PVC_Stable_2", "Vol_Stable_2"),
    ]
)


@pytest.mark.parametrize(
    ("claim", "labels", "expected"),
    [
        pytest.param("PVC_3", {}, True, id="node without labels"),
        pytest.param("PVC_3", {BETA_ZONE: "us-west1-a"}, True, id="beta zone label matched"),
        pytest.param("PVC_1", {BETA_ZONE: "us-west1-b"}, False, id="beta zone doesn't match"),
        pytest.param("PVC_Stable_2", {ZONE: "us-west1-a"}, True, id="zone label matched"),
        pytest.param("PVC_Stable_1", {ZONE: "us-west1-b"}, False, id="zone doesn't match"),
    ],
)
def test_volume_zone_multi_zone(claim: str, labels: dict[str, str], expected: bool) -> None:
    index = StorageIndex(MULTI_ZONE_PVCS, MULTI_ZONE_PVS, (), ())
    assert admits(index, pod(claim), labels) == expected


# VolumeZone: TestWithBinding -----------------------------------------------------------------
WAIT = VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER
BINDING_CLASSES = (
    StorageClass("Class_Immediate"),  # upstream leaves its binding mode unset
    StorageClass("Class_Wait", "example.com/csi", WAIT),
)
BINDING_PVCS = (
    bound("PVC_1", "Vol_1"),
    PersistentVolumeClaim("default", "PVC_NoSC", storage_class="Class_0"),
    PersistentVolumeClaim("default", "PVC_EmptySC"),
    PersistentVolumeClaim("default", "PVC_WaitSC", storage_class="Class_Wait"),
    PersistentVolumeClaim("default", "PVC_ImmediateSC", storage_class="Class_Immediate"),
)


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        pytest.param("PVC_1", True, id="label zone failure domain matched"),
        pytest.param("PVC_EmptySC", UNBOUND_IMMEDIATE, id="unbound volume empty storage class"),
        pytest.param(
            "PVC_NoSC",
            'storageclass.storage.k8s.io "Class_0" not found',
            id="unbound volume no storage class",
        ),
        pytest.param(
            "PVC_ImmediateSC",
            'VolumeBindingMode not set for StorageClass "Class_Immediate"',
            id="unbound volume immediate binding mode",
        ),
        pytest.param("PVC_WaitSC", True, id="unbound volume wait binding mode"),
    ],
)
def test_volume_zone_with_binding(claim: str, expected: bool | str) -> None:
    volumes = (PersistentVolume("Vol_1", labels={BETA_ZONE: "us-west1-a"}),)
    index = StorageIndex(BINDING_PVCS, volumes, BINDING_CLASSES, ())
    node = {BETA_ZONE: "us-west1-a", "uselessLabel": "none"}
    assert admits(index, pod(claim), node) == expected


# VolumeBinding: TestVolumeBinding ------------------------------------------------------------
IMMEDIATE_SC = StorageClass("immediate-sc", binding_mode=VolumeBindingMode.IMMEDIATE)
WAIT_SC = StorageClass("wait-sc", binding_mode=WAIT)  # no provisioner: static PVs only
WAIT_HDD_SC = StorageClass("wait-hdd-sc", binding_mode=WAIT)
CLASSES = (IMMEDIATE_SC, WAIT_SC, WAIT_HDD_SC)


def pvc(name: str, cls: str, volume: str = "", **kw: object) -> PersistentVolumeClaim:
    return PersistentVolumeClaim(
        "default",
        name,
        storage_class=cls,
        volume_name=volume,
        bind_completed=bool(volume),
        **kw,  # type: ignore[arg-type]
    )


def pv(name: str, cls: str, capacity: int = 0, **requirements: list[str]) -> PersistentVolume:
    return PersistentVolume(
        name,
        storage_class=cls,
        capacity=capacity,
        phase="Available",
        node_affinity=affinity(**requirements) if requirements else (),
    )


HOSTNAME = "kubernetes.io/hostname"
LOCAL_PVS = (
    pv("pv-a-0", "wait-sc", 200 * GI, **{HOSTNAME: ["node-a"]}),
    pv("pv-a-1", "wait-sc", 200 * GI, **{HOSTNAME: ["node-a"]}),
    pv("pv-b-0", "wait-sc", 100 * GI, **{HOSTNAME: ["node-b"]}),
    pv("pv-b-1", "wait-sc", 100 * GI, **{HOSTNAME: ["node-b"]}),
)
LOCAL_PVS_HDD = (
    *LOCAL_PVS,
    pv("pv-a-2", "wait-hdd-sc", 200 * GI, **{HOSTNAME: ["node-a"]}),
    pv("pv-a-3", "wait-hdd-sc", 200 * GI, **{HOSTNAME: ["node-a"]}),
    pv("pv-b-2", "wait-hdd-sc", 100 * GI, **{HOSTNAME: ["node-b"]}),
    pv("pv-b-3", "wait-hdd-sc", 100 * GI, **{HOSTNAME: ["node-b"]}),
)
ZONAL_PVS = (
    pv("pv-a-0", "wait-sc", 200 * GI, **{REGION: ["region-a"], ZONE: ["zone-a"]}),
    pv("pv-a-1", "wait-sc", 200 * GI, **{REGION: ["region-a"], ZONE: ["zone-a"]}),
    pv("pv-b-0", "wait-sc", 100 * GI, **{REGION: ["region-b"], ZONE: ["zone-b"]}),
    pv("pv-b-1", "wait-sc", 100 * GI, **{REGION: ["region-b"], ZONE: ["zone-b"]}),
)


def zone_node(zone: str) -> dict[str, str]:
    return {REGION: f"region-{zone}", ZONE: f"zone-{zone}"}


VOLUME_BINDING_CASES = [
    pytest.param((), (), (), [({}, True)], id="pod has not pvcs"),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc", "pv-a"),),
        (pv("pv-a", "wait-sc"),),
        [({}, True)],
        id="all bound",
    ),
    pytest.param(
        ("pvc-a",), (), (), [({}, 'persistentvolumeclaim "pvc-a" not found')], id="PVC missing"
    ),
    pytest.param(
        ("pvc-a", "pvc-b"),
        (pvc("pvc-a", "wait-sc", "pv-a"),),
        (),
        [({}, 'persistentvolumeclaim "pvc-b" not found')],
        id="Part of PVCs do not exist",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "immediate-sc"),),
        (),
        [({}, UNBOUND_IMMEDIATE)],
        id="immediate claims not bound",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc"),),
        (),
        [({}, BIND_CONFLICT)],
        id="unbound claims no matches",
    ),
    pytest.param(
        ("pvc-a", "pvc-b"),
        (pvc("pvc-a", "wait-sc", "pv-a"), pvc("pvc-b", "wait-sc")),
        (pv("pv-a", "wait-sc", foo=["bar"]),),
        # pv-a's affinity rejects node-a (foo=barbar), for pvc-a bound to it and for pvc-b,
        # which could bind only pv-a (upstream: node conflict and bind conflict on node-a).
        [({"foo": "barbar"}, False), ({"foo": "bar"}, True)],
        id="bound and unbound unsatisfied",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc", "pv-a"),),
        (),
        [({}, MISSING_PV)],
        id="pv not found",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc", "pv-a", phase="Lost"),),
        (),
        [({}, 'persistentvolumeclaim "pvc-a" bound to non-existent persistentvolume "pv-a"')],
        id="pv not found claim lost",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc", requested=50 * GI),),
        LOCAL_PVS,
        [
            ({HOSTNAME: "node-a"}, True),
            ({HOSTNAME: "node-b"}, True),
            ({HOSTNAME: "node-c"}, False),
        ],
        id="local volumes with close capacity are preferred",
    ),
    pytest.param(
        ("pvc-0", "pvc-1"),
        (
            pvc("pvc-0", "wait-sc", requested=50 * GI),
            pvc("pvc-1", "wait-hdd-sc", requested=100 * GI),
        ),
        LOCAL_PVS_HDD,
        [
            ({HOSTNAME: "node-a"}, True),
            ({HOSTNAME: "node-b"}, True),
            ({HOSTNAME: "node-c"}, False),
        ],
        id="local volumes with close capacity are preferred (multiple pvcs)",
    ),
    pytest.param(
        ("pvc-a",),
        (pvc("pvc-a", "wait-sc", requested=50 * GI),),
        ZONAL_PVS,
        [(zone_node("a"), True), (zone_node("b"), True), (zone_node("c"), False)],
        id="zonal volumes with close capacity are preferred",
    ),
]


@pytest.mark.parametrize(("claims", "pvcs", "pvs", "nodes"), VOLUME_BINDING_CASES)
def test_volume_binding(
    claims: tuple[str, ...],
    pvcs: tuple[PersistentVolumeClaim, ...],
    pvs: tuple[PersistentVolume, ...],
    nodes: list[tuple[dict[str, str], bool | str]],
) -> None:
    index = StorageIndex(pvcs, pvs, CLASSES, ())
    for labels, expected in nodes:
        assert admits(index, pod(*claims, name="pod-a"), labels) == expected, labels


# VolumeRestrictions: TestAccessModeConflicts -------------------------------------------------
RWOP_1 = PersistentVolumeClaim("default", "claim-with-rwop-1", access_modes=("ReadWriteOncePod",))
RWOP_2 = PersistentVolumeClaim("default", "claim-with-rwop-2", access_modes=("ReadWriteOncePod",))
RWX = PersistentVolumeClaim("default", "claim-with-rwx", access_modes=("ReadWriteMany",))
WITH_ONE = pod("claim-with-rwop-1", name="pod-with-one-pvc", node="node-1")
WITH_TWO = pod("claim-with-rwop-1", "claim-with-rwop-2", name="pod-with-two-pvcs", node="node-1")
WITH_RWX = pod("claim-with-rwx", name="pod-with-rwx", node="node-1")


@pytest.mark.parametrize(
    ("the_pod", "existing", "claims", "expected"),
    [
        pytest.param(Pod("default", "p"), (), (), "", id="nothing"),
        pytest.param(
            WITH_ONE, (), (), 'persistentvolumeclaim "claim-with-rwop-1" not found', id="no PVC"
        ),
        pytest.param(WITH_ONE, (WITH_RWX,), (RWOP_1, RWX), "", id="no access mode conflict"),
        pytest.param(
            pod("claim-with-rwop-1", name="pod-with-one-conflict"),
            (WITH_ONE, WITH_RWX),
            (RWOP_1, RWX),
            RWOP_CONFLICT,
            id="access mode conflict, unschedulable",
        ),
        pytest.param(
            pod("claim-with-rwop-1", "claim-with-rwop-2", name="pod-with-two-conflicts"),
            (WITH_TWO, WITH_RWX),
            (RWOP_1, RWOP_2, RWX),
            RWOP_CONFLICT,
            id="two conflicts, unschedulable",
        ),
    ],
)
def test_read_write_once_pod_conflicts(
    the_pod: Pod,
    existing: tuple[Pod, ...],
    claims: tuple[PersistentVolumeClaim, ...],
    expected: str,
) -> None:
    # Unbound claims of no class would block on binding; bind them so only access modes count.
    bound_claims = [
        PersistentVolumeClaim(
            c.namespace,
            c.name,
            access_modes=c.access_modes,
            volume_name=f"pv-{c.name}",
            bind_completed=True,
        )
        for c in claims
    ]
    volumes = [PersistentVolume(f"pv-{c.name}") for c in claims]
    index = StorageIndex(bound_claims, volumes, (), (*existing, the_pod))
    assert index.constraint(the_pod).blocked == expected


def test_a_pod_using_its_own_read_write_once_pod_claim_is_not_in_conflict_with_itself() -> None:
    claim = bound("data", "pv-data", access_modes=("ReadWriteOncePod",))
    running = pod("data", name="db-0", node="node-1")
    index = StorageIndex([claim], [PersistentVolume("pv-data")], (), [running])
    assert index.constraint(running).blocked == ""


# Dynamic provisioning and matching ----------------------------------------------------------
def test_provisioning_follows_the_class_allowed_topologies() -> None:
    zones_ab = (
        NodeSelectorTerm((Requirement(ZONE, "In", ("zone-a",)),)),
        NodeSelectorTerm((Requirement(ZONE, "In", ("zone-b",)),)),
    )
    cls = StorageClass("zonal", "csi.example.com", WAIT, allowed_topologies=zones_ab)
    index = StorageIndex([pvc("data", "zonal")], [], [cls], [])
    assert admits(index, pod("data"), {ZONE: "zone-b"}) is True
    assert admits(index, pod("data"), {ZONE: "zone-c"}) is False
    anywhere = StorageClass("anywhere", "csi.example.com", WAIT)
    index = StorageIndex([pvc("data", "anywhere")], [], [anywhere], [])
    assert index.constraint(pod("data")).terms is None
    static = StorageClass("local", "kubernetes.io/no-provisioner", WAIT)
    index = StorageIndex([pvc("data", "local")], [], [static], [])
    assert index.constraint(pod("data")).blocked == BIND_CONFLICT


RWO = ("ReadWriteOnce",)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, True, id="matches"),
        pytest.param({"storage_class": "other-sc"}, False, id="other class"),
        pytest.param({"capacity": 1 * GI}, False, id="too small"),
        pytest.param({"claim": "x/y"}, False, id="reserved for another claim"),
        pytest.param({"claim": "default/data"}, True, id="pre-bound to this claim"),
        pytest.param({"deleting": True}, False, id="being deleted"),
        pytest.param({"volume_mode": "Block"}, False, id="other volume mode"),
        pytest.param({"access_modes": ("ReadWriteMany",)}, False, id="lacks the access mode"),
        pytest.param({"phase": "Released"}, False, id="released"),
    ],
)
def test_which_volumes_a_claim_could_bind(changes: dict[str, object], expected: bool) -> None:
    claim = pvc("data", "wait-sc", requested=5 * GI, access_modes=RWO)
    fields: dict[str, object] = {
        "storage_class": "wait-sc",
        "capacity": 10 * GI,
        "access_modes": RWO,
        "phase": "Available",
        **changes,
    }
    assert can_bind(claim, PersistentVolume("v", **fields)) is expected  # type: ignore[arg-type]


def test_claim_selector_must_match_the_volume_labels() -> None:
    claim = pvc("data", "wait-sc", selector=LabelSelector(match_labels=(("tier", "fast"),)))
    assert can_bind(claim, PersistentVolume("v", {"tier": "fast"}, storage_class="wait-sc"))
    assert not can_bind(claim, PersistentVolume("v", {"tier": "slow"}, storage_class="wait-sc"))


def test_volume_terms_are_anded_with_the_pod_own_affinity() -> None:
    own = (
        NodeSelectorTerm((Requirement("disk", "In", ("ssd",)),)),
        NodeSelectorTerm((Requirement("disk", "In", ("nvme",)),)),
    )
    volume = (NodeSelectorTerm((Requirement(ZONE, "In", ("zone-a",)),)),)
    combined = and_terms(own, volume)
    assert combined is not None and len(combined) == 2
    the_pod = Pod("default", "p", required_node_affinity=own, claims=("data",))
    index = StorageIndex(
        [bound("data", "pv")], [PersistentVolume("pv", node_affinity=volume)], (), ()
    )
    result = constrained(the_pod, index.constraint(the_pod))
    assert selector_mismatch(result, {"disk": "nvme", ZONE: "zone-a"}) is None
    assert selector_mismatch(result, {"disk": "nvme", ZONE: "zone-b"}) is not None
    assert selector_mismatch(result, {"disk": "hdd", ZONE: "zone-a"}) is not None


def test_a_blocked_pod_matches_no_node() -> None:
    the_pod = pod("missing")
    result = constrained(the_pod, StorageIndex((), (), (), ()).constraint(the_pod))
    assert result.blocked == 'persistentvolumeclaim "missing" not found'
    assert selector_mismatch(result, {}) is not None


# Through a decision: zonal volumes reuse the zones of new VMs -------------------------------
def zoned_world(pods: list[Pod], **storage: object) -> Snapshot:
    hosts = (
        Host("a-1", Resources.of(cpu=64_000, memory=256 * GI), labels={ZONE: "zone-a"}),
        Host("b-1", Resources.of(cpu=64_000, memory=256 * GI), labels={ZONE: "zone-b"}),
    )
    return world(pods, hosts=hosts, **storage)


def test_a_pod_with_a_zonal_volume_gets_a_vm_in_that_zone() -> None:
    disk = PersistentVolume(
        "pv-data", labels={ZONE: "zone-b"}, node_affinity=affinity(**{ZONE: ["zone-b"]})
    )
    pods = pending(1, claims=("data",), prefix="db-")
    snapshot = zoned_world(pods, claims=(bound("data", "pv-data"),), volumes=(disk,))
    plan = Autoscaler().decide(snapshot, 0.0)
    (launch,) = [a for a in plan.actions if isinstance(a, LaunchVM)]
    assert launch.zone.name == "zone-b" and launch.host == "b-1"


def test_a_wait_for_first_consumer_claim_goes_where_the_class_may_provision() -> None:
    only_b = (NodeSelectorTerm((Requirement(ZONE, "In", ("zone-b",)),)),)
    cls = StorageClass("zonal", "csi.example.com", WAIT, allowed_topologies=only_b)
    snapshot = zoned_world(
        pending(1, claims=("data",)),
        claims=(pvc("data", "zonal"),),
        storage_classes=(cls,),
    )
    plan = Autoscaler().decide(snapshot, 0.0)
    assert [a.zone.name for a in plan.actions if isinstance(a, LaunchVM)] == ["zone-b"]


def test_pods_whose_volumes_block_them_get_no_vm_and_say_why() -> None:
    pods = [
        *pending(2, claims=("waits",), prefix="a"),
        *pending(1, claims=("gone",), prefix="b"),
    ]
    snapshot = zoned_world(
        pods, claims=(pvc("waits", "immediate-sc"),), storage_classes=(IMMEDIATE_SC,)
    )
    plan = Autoscaler().decide(snapshot, 0.0)
    assert not [a for a in plan.actions if isinstance(a, LaunchVM)]
    blocked = {e.message: e.pods for e in plan.explanations if e.verdict is Verdict.VOLUME_BLOCKED}
    assert blocked == {UNBOUND_IMMEDIATE: 2, 'persistentvolumeclaim "gone" not found': 1}


@pytest.mark.parametrize(("disk_zone", "removed"), [("zone-a", False), ("zone-b", True)])
def test_scale_down_moves_a_pod_with_a_zonal_volume_only_within_its_zone(
    disk_zone: str, removed: bool
) -> None:
    """n-a's pod would fit on n-b, in zone-b; with its disk in zone-a it cannot go there."""
    n_a = dataclasses.replace(make_node("n-a"), labels={**make_node("n-a").labels, ZONE: "zone-a"})
    n_b = make_node("n-b", cpu=8000, memory=32 * GI)
    n_b = dataclasses.replace(n_b, labels={**n_b.labels, ZONE: "zone-b"})
    pods = [
        make_pod("db-0", "n-a", owner_kind="StatefulSet", claims=("data",)),
        make_pod("web-0", "n-b", cpu=2000),
    ]
    disk = PersistentVolume("pv-data", labels={ZONE: disk_zone})
    snapshot = scale_down_world(
        [n_a, n_b], pods, claims=(bound("data", "pv-data"),), volumes=(disk,)
    )
    autoscaler = Autoscaler(CoreConfig(scale_down_validation_delay=0.0, consolidation=False))
    touched: set[object] = set()
    for now in (0.0, 700.0, 1400.0):
        touched |= {getattr(a, "node", None) for a in autoscaler.decide(snapshot, now).actions}
    assert ("n-a" in touched) is removed


def test_an_unchanged_pod_keeps_its_constrained_object_across_decisions() -> None:
    """Caches that compare pods by identity stay warm from one decision to the next."""
    disk = PersistentVolume("pv-data", labels={ZONE: "zone-a"})
    snapshot = zoned_world(
        pending(1, claims=("data",)), claims=(bound("data", "pv-data"),), volumes=(disk,)
    )
    topology = VolumeTopology()
    first = topology.apply(snapshot).pods[0]
    assert first is topology.apply(snapshot).pods[0]
    moved = dataclasses.replace(snapshot, volumes=(PersistentVolume("pv-data", {ZONE: "zone-b"}),))
    other = topology.apply(moved).pods[0]
    assert other is not first and other.required_node_affinity != first.required_node_affinity
