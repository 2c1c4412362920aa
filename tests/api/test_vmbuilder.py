"""Every VirtualMachine the builder makes is checked against KubeVirt's real CRD schema."""

from __future__ import annotations

import base64
import copy
import json
from functools import cache
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from autoscaler.api import kubevirt as kv
from autoscaler.api.naming import root_data_volume_name, user_data_secret_name, vm_name
from autoscaler.api.policy import DataVolumeSource, ImageSource, Shape
from autoscaler.api.vmbuilder import (
    VMIdentity,
    VMOptions,
    build_user_data_secret,
    build_vm,
    whole_cores,
)
from testbed.apiserver.crds import KUBEVIRT_CRDS
from testbed.apiserver.schema import validate

CRDS = KUBEVIRT_CRDS
GIB = 2**30

CONTAINER_DISK = ImageSource("k8s-1.31", container_disk="registry.example/k8s-worker:v1.31.2")
GOLDEN = ImageSource(
    "golden", data_volume=DataVolumeSource("images", "k8s-1.31-golden", 20 * GIB, "fast-ssd")
)


@cache
def crd_schema(filename: str, version: str) -> dict[str, Any]:
    path = CRDS / filename
    if not path.exists():
        pytest.skip(f"{path} is not available")
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise AssertionError(f"{filename} has no version {version}")


def vm_schema() -> dict[str, Any]:
    return crd_schema("kubevirt-virtualmachine-crd.yaml", "v1")


DEFAULT_SHAPE = Shape(4000, 16 * GIB)


def identity(image: ImageSource = CONTAINER_DISK, shape: Shape = DEFAULT_SHAPE) -> VMIdentity:
    return VMIdentity(
        name=vm_name("team-a", "general", "launch-1"),
        namespace="team-a-vms",
        tenant="team-a",
        pool="general",
        shape=shape,
        image=image,
    )


def volumes(vm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in vm["spec"]["template"]["spec"]["volumes"]}


@pytest.mark.parametrize("image", [CONTAINER_DISK, GOLDEN], ids=["containerDisk", "dataVolume"])
@pytest.mark.parametrize("pin", [False, True], ids=["preferred-host", "pinned-host"])
def test_vm_validates_against_the_kubevirt_crd(image: ImageSource, pin: bool) -> None:
    vm = build_vm(identity(image), host="metal-7", options=VMOptions(pin_to_host=pin))
    assert validate(vm, vm_schema()) == []


def test_data_volume_template_validates_against_the_cdi_crd() -> None:
    vm = build_vm(identity(GOLDEN))
    (template,) = vm["spec"]["dataVolumeTemplates"]
    schema = crd_schema("cdi-datavolume-crd.yaml", "v1beta1")
    assert validate(template, schema) == []


shapes = st.builds(
    Shape,
    cpu=st.integers(min_value=1, max_value=256_000),
    memory=st.integers(min_value=1, max_value=4 * 2**40),
)
images = st.one_of(
    st.builds(
        ImageSource,
        name=st.just("img"),
        container_disk=st.text(min_size=1, max_size=80),
    ),
    st.builds(
        ImageSource,
        name=st.just("img"),
        data_volume=st.builds(
            DataVolumeSource,
            source_namespace=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
            source_name=st.from_regex(r"[a-z][a-z0-9.-]{0,40}", fullmatch=True),
            size=st.integers(min_value=1, max_value=2**44),
            storage_class=st.none() | st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        ),
    ),
)


@settings(max_examples=40, deadline=None)
@given(
    tenant=st.text(max_size=40),
    pool=st.text(max_size=80),
    key=st.text(max_size=20),
    shape=shapes,
    image=images,
    host=st.none() | st.from_regex(r"[a-z]([a-z0-9-]{0,29}[a-z0-9])?", fullmatch=True),
    options=st.builds(
        VMOptions,
        run_strategy=st.sampled_from(["Always", "RerunOnFailure"]),
        termination_grace_period_seconds=st.integers(min_value=0, max_value=3600),
        pin_to_host=st.booleans(),
    ),
)
def test_every_built_vm_validates_against_the_crd(
    tenant: str,
    pool: str,
    key: str,
    shape: Shape,
    image: ImageSource,
    host: str | None,
    options: VMOptions,
) -> None:
    vm_identity = VMIdentity(vm_name(tenant, pool, key), "ns", tenant, pool, shape, image)
    vm = build_vm(vm_identity, host=host, options=options)
    assert validate(vm, vm_schema()) == []
    # What goes over the wire survives a JSON round trip unchanged.
    assert json.loads(json.dumps(vm)) == vm


def test_misspelt_cloud_init_secret_field_is_rejected_by_the_schema() -> None:
    vm = build_vm(identity())
    broken = copy.deepcopy(vm)
    cloud_init = volumes(broken)["cloudinit"]["cloudInitNoCloud"]
    cloud_init["userDataSecretRef"] = cloud_init.pop("secretRef")
    errors = validate(broken, vm_schema())
    assert any("cloudInitNoCloud.userDataSecretRef" in e and "unknown field" in e for e in errors)


def test_models_reject_unknown_fields_before_anything_is_sent() -> None:
    with pytest.raises(ValidationError, match="user_data_secret_ref"):
        kv.CloudInitNoCloud(user_data_secret_ref=kv.SecretRef(name="x"))  # type: ignore[call-arg]


def test_cloud_init_references_the_user_data_secret_and_never_inlines_it() -> None:
    vm_identity = identity()
    vm = build_vm(vm_identity)
    cloud_init = volumes(vm)["cloudinit"]["cloudInitNoCloud"]
    assert cloud_init == {"secretRef": {"name": user_data_secret_name(vm_identity.name)}}
    text = json.dumps(vm)
    assert "userData" not in text
    assert "userdata" not in text.replace(user_data_secret_name(vm_identity.name), "")


def test_domain_matches_the_shape() -> None:
    vm = build_vm(identity(shape=Shape(6000, 24 * GIB)))
    spec = vm["spec"]["template"]["spec"]
    domain = spec["domain"]
    assert domain["cpu"] == {"cores": 6, "sockets": 1, "threads": 1}
    assert domain["memory"] == {"guest": "24Gi"}
    assert domain["resources"]["requests"] == {"cpu": "6", "memory": "24Gi"}
    assert [d["name"] for d in domain["devices"]["disks"]] == ["root", "cloudinit"]
    assert all(d["disk"]["bus"] == "virtio" for d in domain["devices"]["disks"])
    assert domain["devices"]["interfaces"] == [{"name": "default", "masquerade": {}}]
    assert spec["networks"] == [{"name": "default", "pod": {}}]
    assert spec["evictionStrategy"] == "None"
    assert vm["spec"]["runStrategy"] == "Always"


def test_fractional_cpu_rounds_up_to_whole_cores() -> None:
    assert whole_cores(Shape(2500, GIB)) == 3
    assert whole_cores(Shape(1, GIB)) == 1
    assert whole_cores(Shape(8000, GIB)) == 8


def test_labels_are_on_the_vm_its_template_and_its_secret() -> None:
    vm_identity = identity()
    vm = build_vm(vm_identity)
    secret = build_user_data_secret(vm_identity, "#cloud-config\n")
    expected = vm_identity.labels
    assert vm["metadata"]["labels"] == expected
    assert vm["spec"]["template"]["metadata"]["labels"] == expected
    assert secret["metadata"]["labels"] == expected
    assert expected["kvpool.io/image-hash"] == CONTAINER_DISK.digest
    assert "ownerReferences" not in vm["metadata"]


def test_container_disk_root_volume() -> None:
    vm = build_vm(identity(CONTAINER_DISK))
    assert volumes(vm)["root"] == {
        "name": "root",
        "containerDisk": {"image": "registry.example/k8s-worker:v1.31.2"},
    }
    assert "dataVolumeTemplates" not in vm["spec"]


def test_data_volume_root_volume_clones_the_golden_pvc() -> None:
    vm_identity = identity(GOLDEN)
    vm = build_vm(vm_identity)
    dv_name = root_data_volume_name(vm_identity.name)
    assert volumes(vm)["root"] == {"name": "root", "dataVolume": {"name": dv_name}}
    (template,) = vm["spec"]["dataVolumeTemplates"]
    assert template["metadata"]["name"] == dv_name
    assert template["spec"] == {
        "source": {"pvc": {"namespace": "images", "name": "k8s-1.31-golden"}},
        "storage": {"resources": {"requests": {"storage": "20Gi"}}, "storageClassName": "fast-ssd"},
    }


def test_storage_class_is_omitted_when_not_given() -> None:
    image = ImageSource("g", data_volume=DataVolumeSource("images", "golden", 10 * GIB))
    (template,) = build_vm(identity(image))["spec"]["dataVolumeTemplates"]
    assert "storageClassName" not in template["spec"]["storage"]


def test_planned_host_is_a_preference_by_default() -> None:
    spec = build_vm(identity(), host="metal-3")["spec"]["template"]["spec"]
    assert "nodeSelector" not in spec
    (term,) = spec["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["preference"]["matchExpressions"] == [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["metal-3"]}
    ]


def test_planned_host_can_be_pinned() -> None:
    spec = build_vm(identity(), host="metal-3", options=VMOptions(pin_to_host=True))
    template = spec["spec"]["template"]["spec"]
    assert template["nodeSelector"] == {"kubernetes.io/hostname": "metal-3"}
    assert "affinity" not in template


def test_no_host_means_no_placement() -> None:
    spec = build_vm(identity())["spec"]["template"]["spec"]
    assert "affinity" not in spec and "nodeSelector" not in spec


def test_user_data_secret() -> None:
    vm_identity = identity()
    secret = build_user_data_secret(vm_identity, "#cloud-config\nhostname: x\n")
    assert secret["apiVersion"] == "v1"
    assert secret["kind"] == "Secret"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["name"] == user_data_secret_name(vm_identity.name)
    assert secret["metadata"]["namespace"] == "team-a-vms"
    decoded = base64.b64decode(secret["data"]["userdata"]).decode()
    assert decoded == "#cloud-config\nhostname: x\n"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad_Name"}, "VM name"),
        ({"namespace": "a" * 64}, "namespace"),
        ({"shape": Shape(0, GIB)}, "shape"),
        ({"image": ImageSource("none")}, "exactly one"),
        ({"image": ImageSource("both", "img", GOLDEN.data_volume)}, "exactly one"),
        (
            {"image": ImageSource("empty", data_volume=DataVolumeSource("a", "b", 0))},
            "size must be positive",
        ),
    ],
)
def test_bad_identity_is_rejected_with_a_clear_message(
    changes: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "name": "vm-1",
        "namespace": "ns",
        "tenant": "t",
        "pool": "p",
        "shape": Shape(2000, 4 * GIB),
        "image": CONTAINER_DISK,
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        VMIdentity(**fields)


def test_bad_host_is_rejected() -> None:
    with pytest.raises(ValueError, match="host"):
        build_vm(identity(), host="not a host")


ZONE = {"topology.kubernetes.io/zone": "zone-b", "topology.kubernetes.io/region": "eu-west"}


@pytest.mark.parametrize("pin", [False, True], ids=["preferred-host", "pinned-host"])
def test_zoned_vm_validates_against_the_kubevirt_crd(pin: bool) -> None:
    vm = build_vm(identity(), host="metal-7", options=VMOptions(pin_to_host=pin), zone=ZONE)
    assert validate(vm, vm_schema()) == []


def test_zone_is_required_through_the_vmi_node_selector() -> None:
    template = build_vm(identity(), host="metal-3", zone=ZONE)["spec"]["template"]["spec"]
    assert template["nodeSelector"] == ZONE
    # The host stays a preference inside the zone.
    (term,) = template["affinity"]["nodeAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["preference"]["matchExpressions"][0]["values"] == ["metal-3"]
    pinned = build_vm(identity(), host="metal-3", options=VMOptions(pin_to_host=True), zone=ZONE)
    assert pinned["spec"]["template"]["spec"]["nodeSelector"] == {
        **ZONE,
        "kubernetes.io/hostname": "metal-3",
    }
    without_host = build_vm(identity(), zone=ZONE)["spec"]["template"]["spec"]
    assert without_host["nodeSelector"] == ZONE and "affinity" not in without_host


@pytest.mark.parametrize(
    "zone",
    [
        {"example.com/rack": "r1"},
        {"topology.kubernetes.io/zone": "bad value"},
        {"topology.kubernetes.io/zone": ""},
    ],
)
def test_bad_zone_labels_are_rejected(zone: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="zone label"):
        build_vm(identity(), zone=zone)
