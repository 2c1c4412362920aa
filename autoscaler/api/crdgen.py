"""CustomResourceDefinitions (``apiextensions.k8s.io/v1``) generated from the pydantic models.

The API server requires a *structural* schema: every node typed, no ``$ref``, no ``anyOf``
except for int-or-string, and no ``additionalProperties: false`` (unknown fields are pruned,
or rejected when a client asks for ``fieldValidation=Strict``). Pydantic's JSON Schema is
rewritten into that form here; :func:`strict_json_schema` maps it back to a JSON Schema that
behaves like the API server with Strict field validation, for tests and fake servers.
"""

from __future__ import annotations

import copy
from typing import Any, Final

import yaml
from pydantic import BaseModel

from autoscaler.api.models import (
    GROUP,
    VERSION,
    NodePool,
    NodePoolSpec,
    NodePoolStatus,
    TenantCluster,
    TenantClusterSpec,
    TenantClusterStatus,
)

Schema = dict[str, Any]

HEADER: Final = (
    "# Generated from autoscaler/api/models.py by "
    "`kubevirt-autoscaler crds --write manifests/crds`; do not edit.\n"
)
_DROPPED_KEYS: Final = frozenset({"title", "default", "$defs"})


def render_crds() -> dict[str, str]:
    """File name -> YAML text of every CRD of the API group."""
    return {
        f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml": _to_yaml(crd)
        for crd in (tenantcluster_crd(), nodepool_crd())
    }


def tenantcluster_crd() -> Schema:
    return _crd(
        model=TenantCluster,
        spec=TenantClusterSpec,
        status=TenantClusterStatus,
        spec_required=True,
        scope="Namespaced",
        short_names=["tc"],
        columns=[
            _column("Connected", "boolean", ".status.connected"),
            _column("VMs", "integer", ".status.usage.vms"),
            _column("Age", "date", ".metadata.creationTimestamp"),
        ],
    )


def nodepool_crd() -> Schema:
    return _crd(
        model=NodePool,
        spec=NodePoolSpec,
        status=NodePoolStatus,
        spec_required=False,
        scope="Cluster",
        short_names=["np"],
        columns=[
            _column("Nodes", "integer", ".status.nodes"),
            _column("Launching", "integer", ".status.launching"),
            _column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
            _column("Age", "date", ".metadata.creationTimestamp"),
        ],
    )


def structural_schema(model: type[BaseModel]) -> Schema:
    """The model's schema in the structural form that CRDs require."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    return _structural(raw, raw.get("$defs", {}))


def strict_json_schema(openapi: Schema) -> Schema:
    """A JSON Schema (draft 2020-12) that accepts what the API server accepts with
    ``fieldValidation=Strict``: unknown fields are errors and ``nullable`` admits null."""
    schema = copy.deepcopy(openapi)
    _make_strict(schema)
    return schema


# Generation ------------------------------------------------------------------------------
def _crd(
    *,
    model: type[BaseModel],
    spec: type[BaseModel],
    status: type[BaseModel],
    spec_required: bool,
    scope: str,
    short_names: list[str],
    columns: list[Schema],
) -> Schema:
    kind = model.__name__
    plural = kind.lower() + "s"
    root: Schema = {
        "type": "object",
        "description": _clean(model.__doc__ or kind),
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(spec),
            "status": structural_schema(status),
        },
    }
    if spec_required:
        root["required"] = ["spec"]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["kvpool"],
            },
            "scope": scope,
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


def _column(name: str, type_: str, path: str) -> Schema:
    return {"name": name, "type": type_, "jsonPath": path}


def _structural(node: Schema, defs: Schema) -> Schema:
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        return _structural({**target, **siblings}, defs)
    if "anyOf" in node and not node.get("x-kubernetes-int-or-string"):
        # Optional[X] is "X, not required": the API server prunes nulls of non-nullable fields.
        options = [option for option in node["anyOf"] if option.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"a union cannot be expressed in a structural schema: {node}")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        return _structural({**options[0], **rest}, defs)
    result: Schema = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "additionalProperties" and value is False:
            continue
        if key == "const":
            result["enum"] = [value]
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            result["minimum"] = value
            result["exclusiveMinimum"] = True
        elif key == "description":
            result[key] = _clean(value)
        elif key == "properties":
            result[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _structural(value, defs)
        else:
            result[key] = copy.deepcopy(value)
    return result


def _clean(text: str) -> str:
    """A docstring as one line of plain text, for ``kubectl explain``."""
    return " ".join(text.replace("``", "`").split())


def _to_yaml(crd: Schema) -> str:
    return HEADER + yaml.safe_dump(crd, sort_keys=False, default_flow_style=False, width=100)


# Strict JSON Schema ----------------------------------------------------------------------
def _make_strict(node: Schema) -> None:
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            node["anyOf"] = [*node.get("anyOf", []), {"type": "null"}]
    if node.get("exclusiveMinimum") is True:
        node["exclusiveMinimum"] = node.pop("minimum")
    elif node.get("exclusiveMinimum") is False:
        del node["exclusiveMinimum"]
    properties = node.get("properties")
    if isinstance(properties, dict):
        for sub in properties.values():
            _make_strict(sub)
        if "additionalProperties" not in node and not node.get(
            "x-kubernetes-preserve-unknown-fields"
        ):
            node["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _make_strict(node[key])
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            _make_strict(sub)
