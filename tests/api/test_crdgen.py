from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from autoscaler.api.crdgen import render_crds, strict_json_schema, structural_schema
from autoscaler.api.models import (
    NodePool,
    NodePoolStatus,
    TenantCluster,
    TenantClusterSpec,
    TenantClusterStatus,
    to_object,
)

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "manifests" / "crds"
TENANT_FILE = "autoscaling.kvpool.io_tenantclusters.yaml"
NODEPOOL_FILE = "autoscaling.kvpool.io_nodepools.yaml"


def crd(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(render_crds()[name])
    return loaded


def validator_for(kind: str) -> jsonschema.Draft202012Validator:
    name = TENANT_FILE if kind == "TenantCluster" else NODEPOOL_FILE
    schema = crd(name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return jsonschema.Draft202012Validator(strict_json_schema(schema))


def example(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    return loaded


def test_committed_manifests_match_the_models() -> None:
    rendered = render_crds()
    assert sorted(rendered) == sorted(path.name for path in CRD_DIR.glob("*.yaml"))
    for name, text in rendered.items():
        assert (CRD_DIR / name).read_text() == text, (
            f"{name} is stale: run kubevirt-autoscaler crds --write manifests/crds"
        )


def test_rendering_is_deterministic() -> None:
    assert render_crds() == render_crds()


@pytest.mark.parametrize(
    ("name", "kind", "scope", "short_name", "columns"),
    [
        (TENANT_FILE, "TenantCluster", "Namespaced", "tc", ["Connected", "VMs", "Age"]),
        (NODEPOOL_FILE, "NodePool", "Cluster", "np", ["Nodes", "Launching", "Ready", "Age"]),
    ],
)
def test_crd_metadata(
    name: str, kind: str, scope: str, short_name: str, columns: list[str]
) -> None:
    document = crd(name)
    assert document["apiVersion"] == "apiextensions.k8s.io/v1"
    spec = document["spec"]
    assert document["metadata"]["name"] == f"{spec['names']['plural']}.autoscaling.kvpool.io"
    assert spec["names"]["kind"] == kind
    assert spec["names"]["shortNames"] == [short_name]
    assert spec["names"]["categories"] == ["kvpool"]
    assert spec["scope"] == scope
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1"
    assert version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert [column["name"] for column in version["additionalPrinterColumns"]] == columns


def test_ready_column_reads_the_ready_condition() -> None:
    columns = crd(NODEPOOL_FILE)["spec"]["versions"][0]["additionalPrinterColumns"]
    ready = next(column for column in columns if column["name"] == "Ready")
    assert ready["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'


def _structural_problems(node: Any, path: str = "") -> list[str]:
    """The API server's structural-schema rules that pydantic output could break."""
    problems = []
    if not isinstance(node, dict):
        return [f"{path}: not a schema"]
    for key in ("$ref", "$defs", "title", "default", "const", "nullable"):
        if key in node:
            problems.append(f"{path}: has {key}")
    if node.get("additionalProperties") is False:
        problems.append(f"{path}: additionalProperties false")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: both properties and additionalProperties")
    int_or_string = node.get("x-kubernetes-int-or-string")
    if int_or_string:
        if node.get("anyOf") != [{"type": "integer"}, {"type": "string"}]:
            problems.append(f"{path}: int-or-string without the standard anyOf")
    elif "type" not in node:
        problems.append(f"{path}: no type")
    elif "anyOf" in node:
        problems.append(f"{path}: anyOf outside int-or-string")
    for branch in node.get("oneOf", []):
        if set(branch) != {"required"}:
            problems.append(f"{path}: oneOf branch with more than required")
    for name, sub in node.get("properties", {}).items():
        problems += _structural_problems(sub, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            problems += _structural_problems(node[key], f"{path}.{key}")
    return problems


@pytest.mark.parametrize("name", [TENANT_FILE, NODEPOOL_FILE])
def test_schemas_are_structural(name: str) -> None:
    schema = crd(name)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert _structural_problems(schema) == []
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_quantities_are_int_or_string_with_the_quantity_pattern() -> None:
    memory = structural_schema(TenantClusterSpec)["properties"]["shapes"]["properties"]["memory"]
    minimum = memory["properties"]["min"]
    assert minimum["x-kubernetes-int-or-string"] is True
    assert "pattern" in minimum


def test_optional_fields_are_not_required_and_maps_are_string_maps() -> None:
    data_volume = structural_schema(TenantClusterSpec)["properties"]["images"]["items"][
        "properties"
    ]["dataVolume"]
    assert data_volume["required"] == ["sourcePVC", "size"]
    assert data_volume["properties"]["storageClassName"] == {"type": "string"}
    labels = crd(NODEPOOL_FILE)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]["properties"]["template"]["properties"]["labels"]
    assert labels == {"type": "object", "additionalProperties": {"type": "string"}}


def test_status_schemas_cover_the_status_models() -> None:
    assert set(structural_schema(NodePoolStatus)["properties"]) == {
        field.alias or name for name, field in NodePoolStatus.model_fields.items()
    }
    assert "usage" in structural_schema(TenantClusterStatus)["properties"]


@pytest.mark.parametrize(
    ("kind", "file"), [("TenantCluster", "tenantcluster.yaml"), ("NodePool", "nodepool.yaml")]
)
def test_examples_are_accepted(kind: str, file: str) -> None:
    validator_for(kind).validate(example(file))


def test_objects_written_by_the_models_are_accepted() -> None:
    tenant = TenantCluster.model_validate(example("tenantcluster.yaml"))
    tenant_object = to_object(tenant)
    tenant_object["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Connected",
                "message": "ok",
                "lastTransitionTime": "2024-05-01T10:00:00Z",
            }
        ],
        "connected": True,
        "usage": {"vms": 2, "cpu": 8, "memory": "32Gi"},
    }
    validator_for("TenantCluster").validate(tenant_object)
    pool = NodePool.model_validate(example("nodepool.yaml"))
    validator_for("NodePool").validate(to_object(pool))


def _mutated(file: str, change: Any) -> dict[str, Any]:
    obj = copy.deepcopy(example(file))
    change(obj)
    return obj


@pytest.mark.parametrize(
    ("kind", "obj"),
    [
        (
            "TenantCluster",
            _mutated("tenantcluster.yaml", lambda o: o["spec"].update(vmNamespacee="x")),
        ),
        (
            "TenantCluster",
            _mutated("tenantcluster.yaml", lambda o: o["spec"]["shapes"]["cpu"].update(stp=2)),
        ),
        (
            "TenantCluster",
            _mutated("tenantcluster.yaml", lambda o: o["spec"]["limits"].update(memory="2 TB")),
        ),
        (
            "TenantCluster",
            _mutated(
                "tenantcluster.yaml",
                lambda o: o["spec"]["images"][0].update(dataVolume={"size": "1Gi"}),
            ),
        ),
        ("TenantCluster", _mutated("tenantcluster.yaml", lambda o: o["spec"].pop("bootstrap"))),
        ("NodePool", _mutated("nodepool.yaml", lambda o: o["spec"]["template"].update(lables={}))),
        (
            "NodePool",
            _mutated(
                "nodepool.yaml",
                lambda o: o["spec"]["template"].update(taints=[{"key": "k", "effect": "Never"}]),
            ),
        ),
    ],
)
def test_invalid_specs_are_rejected(kind: str, obj: dict[str, Any]) -> None:
    assert list(validator_for(kind).iter_errors(obj))


def test_strict_schema_maps_nullable_and_keeps_the_input_intact() -> None:
    openapi = {
        "type": "object",
        "properties": {"a": {"type": "string", "nullable": True}},
    }
    strict = strict_json_schema(openapi)
    assert strict["properties"]["a"]["type"] == ["string", "null"]
    assert strict["additionalProperties"] is False
    assert "additionalProperties" not in openapi
    jsonschema.validate({"a": None}, strict)
