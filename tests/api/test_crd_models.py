from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.api.models import (
    InvalidObject,
    NodePool,
    TenantCluster,
    load_nodepool,
    load_tenant_cluster,
    to_object,
)
from autoscaler.api.policy import DataVolumeSource, ImageSource, IntRange, Shape, TenantLimits

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GI = 2**30


def tenant_object() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / "tenantcluster.yaml").read_text())
    return loaded


def nodepool_object() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((EXAMPLES / "nodepool.yaml").read_text())
    return loaded


def errors_of(obj: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidObject) as raised:
        load_tenant_cluster(obj)
    return raised.value.errors


def test_example_tenant_converts_to_policy_types() -> None:
    tenant = load_tenant_cluster(tenant_object())
    bounds = tenant.shape_bounds()
    assert bounds.cpu == IntRange(2000, 32000, 2000)
    assert bounds.memory == IntRange(4 * GI, 128 * GI, 2 * GI)
    assert (bounds.memory_per_cpu_min, bounds.memory_per_cpu_max) == (GI, 8 * GI)
    assert bounds.allows(Shape(cpu=4000, memory=16 * GI))
    assert not bounds.allows(Shape(cpu=4000, memory=64 * GI))
    assert tenant.tenant_limits() == TenantLimits(vms=100, cpu=512_000, memory=2 * 2**40)
    assert tenant.image_sources() == {
        "k8s-1.31": ImageSource("k8s-1.31", container_disk="registry.example/k8s-worker:v1.31.2"),
        "golden": ImageSource(
            "golden",
            data_volume=DataVolumeSource("images", "k8s-1.31-golden", 20 * GI, None),
        ),
    }
    assert tenant.spec.weight == 1
    assert tenant.spec.kubeconfig_secret_ref.key == "value"


def test_snake_case_names_are_accepted_too() -> None:
    obj = tenant_object()
    spec = obj["spec"]
    spec["vm_namespace"] = spec.pop("vmNamespace")
    assert load_tenant_cluster(obj).spec.vm_namespace == "team-a-vms"


def test_round_trip_through_the_wire_form() -> None:
    tenant = load_tenant_cluster(tenant_object())
    wire = to_object(tenant)
    assert wire["spec"]["shapes"]["memoryPerCPU"] == {"min": "1Gi", "max": "8Gi"}
    assert wire["spec"]["images"][1]["dataVolume"]["sourcePVC"]["name"] == "k8s-1.31-golden"
    assert TenantCluster.model_validate(wire) == tenant
    pool = load_nodepool(nodepool_object())
    assert NodePool.model_validate(to_object(pool)) == pool


def test_limits_are_optional_and_unlimited() -> None:
    obj = tenant_object()
    del obj["spec"]["limits"]
    assert load_tenant_cluster(obj).tenant_limits() == TenantLimits()


def test_status_and_metadata_ignore_unknown_fields() -> None:
    obj = tenant_object()
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    obj["status"] = {
        "connected": True,
        "futureField": 1,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Connected",
                "message": "",
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        ],
        "usage": {"vms": 3, "cpu": "12", "memory": "48Gi"},
        "pools": [{"name": "general", "nodes": 3}],
    }
    tenant = load_tenant_cluster(obj)
    assert tenant.status is not None
    assert tenant.status.conditions[0].last_transition_time.year == 2024
    assert tenant.status.pools[0].nodes == 3


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["shapes"]["cpu"].update(min=8, max=4), "spec.shapes.cpu: cpu min 8"),
        (lambda s: s["shapes"]["cpu"].update(step=0), "spec.shapes.cpu.step: '0' must be greater"),
        (lambda s: s["shapes"]["cpu"].update(step="500m"), "'500m' is not a whole number"),
        (lambda s: s["shapes"]["cpu"].update(max=20000), "is more than 10000 cores"),
        (
            lambda s: s["shapes"]["memory"].update(min="64Gi", max="4Gi"),
            "spec.shapes.memory: memory min 64Gi is greater than max 4Gi",
        ),
        (lambda s: s["shapes"]["memory"].update(step="-1Gi"), "'-1Gi' must be greater than zero"),
        (
            lambda s: s["shapes"]["memoryPerCPU"].update(min="8Gi", max="1Gi"),
            "memoryPerCPU min 8Gi is greater than max 1Gi",
        ),
        (lambda s: s["shapes"]["memory"].update(max="lots"), "'lots' is not a quantity"),
        (
            lambda s: s["shapes"].update(
                cpu={"min": 2, "max": 2},
                memory={"min": "4Gi", "max": "4Gi"},
                memoryPerCPU={"min": "4Gi", "max": "8Gi"},
            ),
            "spec.shapes: no VM shape fits",
        ),
        (lambda s: s["shapes"]["memory"].update(max=True), "True is not a quantity"),
        (lambda s: s["limits"].update(memory="-1Gi"), "spec.limits.memory: '-1Gi' must not be"),
        (lambda s: s["limits"].update(vms=-1), "spec.limits.vms: Input should be greater"),
        (lambda s: s["shapes"]["cpu"].update(maxx=4), "spec.shapes.cpu.maxx: unknown field"),
        (lambda s: s.update(imagez=[]), "spec.imagez: unknown field"),
        (lambda s: s.update(images=[]), "spec.images: List should have at least 1 item"),
        (
            lambda s: s["images"].append({"name": "golden", "containerDisk": "x"}),
            "image name 'golden' appears more than once",
        ),
        (
            lambda s: s["images"][0].update(dataVolume=s["images"][1]["dataVolume"]),
            "spec.images[0]: image 'k8s-1.31' needs exactly one of containerDisk or dataVolume",
        ),
        (
            lambda s: s["images"][0].pop("containerDisk"),
            "needs exactly one of containerDisk or dataVolume",
        ),
        (lambda s: s["images"][0].update(name="K8s"), "spec.images[0].name: must be lowercase"),
        (lambda s: s.update(vmNamespace="Team_A"), "spec.vmNamespace: must be a DNS label"),
        (lambda s: s.update(weight=0), "spec.weight: Input should be greater than or equal to 1"),
        (lambda s: s.update(zones=["zone a"]), "spec.zones[0]: must be a label value"),
        (lambda s: s.update(zones=[]), "spec.zones: List should have at least 1 item"),
        (lambda s: s["bootstrap"].update(kind="talos"), "spec.bootstrap.kind: Input should be"),
        (
            lambda s: s["bootstrap"].update(apiServerEndpoint="http://x:6443"),
            "spec.bootstrap.apiServerEndpoint: must be an https:// URL (got 'http://x:6443')",
        ),
        (
            lambda s: s["bootstrap"].update(caCertHashes=["md5:abc"]),
            "spec.bootstrap.caCertHashes[0]: must be sha256:",
        ),
        (lambda s: s.pop("shapes"), "spec.shapes: required field is missing"),
    ],
)
def test_invalid_tenant_specs_are_explained(mutate: Any, expected: str) -> None:
    obj = tenant_object()
    mutate(obj["spec"])
    errors = errors_of(obj)
    assert any(expected in line for line in errors), errors


def test_every_problem_is_reported_at_once() -> None:
    obj = tenant_object()
    obj["spec"]["vmNamespace"] = "Bad Name"
    obj["spec"]["limits"]["cpu"] = "x"
    obj["spec"]["bootstrap"]["kind"] = "other"
    assert len(errors_of(obj)) == 3


def test_wrong_kind_or_api_version_is_an_error() -> None:
    obj = tenant_object()
    obj["apiVersion"] = "autoscaling.kvpool.io/v2"
    assert any(line.startswith("apiVersion:") for line in errors_of(obj))


@pytest.mark.parametrize("obj", [None, [], "text", 42, {"spec": {}}])
def test_garbage_is_an_invalid_object_not_a_crash(obj: Any) -> None:
    with pytest.raises(InvalidObject):
        load_tenant_cluster(obj)
    with pytest.raises(InvalidObject):
        load_nodepool(obj)


def test_message_names_the_object() -> None:
    obj = tenant_object()
    obj["spec"]["weight"] = "heavy"
    with pytest.raises(InvalidObject, match=r"^TenantCluster team-a is invalid: spec\.weight"):
        load_tenant_cluster(obj)


def test_nodepool_spec_defaults_to_an_empty_template() -> None:
    pool = load_nodepool({"apiVersion": "autoscaling.kvpool.io/v1alpha1", "kind": "NodePool",
                          "metadata": {"name": "bare"}})  # fmt: skip
    assert pool.spec.template.labels == {}
    assert pool.spec.template.taints == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"labels": {"bad key!": "x"}}, "label key 'bad key!': name 'bad key!' must be at most 63"),
        ({"labels": {"pool": "-x-"}}, "label pool: label value '-x-' must be empty or at most 63"),
        ({"labels": {"pool": 3}}, "spec.template.labels.pool: Input should be a valid string"),
        ({"taints": [{"key": "k", "effect": "Sometimes"}]}, "spec.template.taints[0].effect"),
        ({"taints": [{"key": "k"}]}, "spec.template.taints[0].effect: required field is missing"),
        (
            {"taints": [{"key": "a/b/c", "effect": "NoSchedule"}]},
            "taint: label key 'a/b/c' has more than one '/'",
        ),
        (
            {
                "taints": [
                    {"key": "k", "effect": "NoSchedule"},
                    {"key": "k", "effect": "NoSchedule"},
                ]
            },
            "taint k:NoSchedule appears more than once",
        ),
        ({"lables": {}}, "spec.template.lables: unknown field"),
    ],
)
def test_invalid_nodepool_templates_are_explained(template: dict[str, Any], expected: str) -> None:
    obj = nodepool_object()
    obj["spec"]["template"] = template
    with pytest.raises(InvalidObject) as raised:
        load_nodepool(obj)
    assert any(expected in line for line in raised.value.errors), raised.value.errors


def test_non_string_annotation_is_named_with_its_value() -> None:
    obj = copy.deepcopy(nodepool_object())
    obj["metadata"]["annotations"]["kvpool.io/min-nodes"] = 0
    with pytest.raises(InvalidObject) as raised:
        load_nodepool(obj)
    assert raised.value.errors == [
        "metadata.annotations.kvpool.io/min-nodes: Input should be a valid string (got 0)"
    ]


def test_zones_restrict_the_tenant_to_host_zones() -> None:
    obj = tenant_object()
    assert load_tenant_cluster(obj).spec.zones is None
    obj["spec"]["zones"] = ["zone-a", "eu_1.b"]
    assert load_tenant_cluster(obj).spec.zones == ["zone-a", "eu_1.b"]
