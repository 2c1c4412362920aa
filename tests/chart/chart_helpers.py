"""Rendering and validation helpers shared by the chart tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from autoscaler.commands.render import (
    MONITORING_API,
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    Document,
    documents,
    render_chart,
)

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts/kubevirt-autoscaler"
# The Kubernetes minor versions the chart supports (Chart.yaml: kubeVersion >=1.29).
SUPPORTED_KUBERNETES = ("1.29", "1.30", "1.31", "1.32", "1.33")

ALL_MONITORING = {
    "serviceMonitor": {"enabled": True},
    "podMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
}

# Named value sets, each with the extra APIs the cluster serves.
VALUE_SETS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "defaults": ({}, ()),
    "monitoring-api-present": (ALL_MONITORING, (MONITORING_API,)),
    "monitoring-api-absent": (ALL_MONITORING, ()),
    "network-policy": (
        {
            "networkPolicy": {
                "enabled": True,
                "apiServer": {"cidrs": ["10.96.0.1/32", "192.168.10.0/24"], "ports": [6443]},
                "tenantAPIServers": {"cidrs": ["10.20.0.0/16"], "ports": [6443, 443]},
            }
        },
        (),
    ),
    "custom-resources": (
        {
            "resources": {
                "requests": {"cpu": "1", "memory": "2Gi"},
                "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "1Gi"},
            },
            "tmpSizeLimit": "256Mi",
            "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
            "tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
            "extraEnv": [{"name": "KVPOOL_EXTRA", "value": "1"}],
            "podAnnotations": {"example.com/team": "platform"},
            "imagePullSecrets": [{"name": "registry-credentials"}],
        },
        (),
    ),
    "single-replica": ({"replicaCount": 1, "leaderElection": {"enabled": False}}, ()),
}

# The Prometheus Operator's kinds have no schema in kubernetes-validate; these are the fields
# of their CRDs that the chart relies on, checked instead.
_DURATION = {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}
_METADATA = {
    "type": "object",
    "required": ["name", "namespace", "labels"],
    "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
}
_SELECTOR = {
    "type": "object",
    "required": ["matchLabels"],
    "properties": {"matchLabels": {"type": "object", "minProperties": 1}},
}


def _monitor_schema(endpoints_key: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": MONITORING_API},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["selector", endpoints_key],
                "additionalProperties": False,
                "properties": {
                    "selector": _SELECTOR,
                    "namespaceSelector": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"matchNames": {"type": "array", "minItems": 1}},
                    },
                    endpoints_key: {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["port"],
                            "additionalProperties": False,
                            "properties": {
                                "port": {"type": "string", "minLength": 1},
                                "path": {"type": "string", "pattern": "^/"},
                                "interval": _DURATION,
                                "scrapeTimeout": _DURATION,
                            },
                        },
                    },
                },
            },
        },
    }


MONITORING_SCHEMAS: dict[str, dict[str, Any]] = {
    "ServiceMonitor": _monitor_schema("endpoints"),
    "PodMonitor": _monitor_schema("podMetricsEndpoints"),
    "PrometheusRule": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": MONITORING_API},
            "metadata": _METADATA,
            "spec": {
                "type": "object",
                "required": ["groups"],
                "additionalProperties": False,
                "properties": {
                    "groups": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "rules"],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "minLength": 1},
                                "rules": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {
                                        "type": "object",
                                        "required": ["alert", "expr", "labels", "annotations"],
                                        "additionalProperties": False,
                                        "properties": {
                                            "alert": {"type": "string", "pattern": "^[A-Za-z]+$"},
                                            "expr": {"type": "string", "minLength": 1},
                                            "for": _DURATION,
                                            "labels": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                            "annotations": {
                                                "type": "object",
                                                "additionalProperties": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    }
                },
            },
        },
    },
}


def render(
    values: Mapping[str, Any] | None = None,
    *,
    api_versions: Sequence[str] = (),
    release: str = RELEASE_NAME,
    namespace: str = RELEASE_NAMESPACE,
) -> list[Document]:
    return documents(
        render_chart(CHART, values, release=release, namespace=namespace, api_versions=api_versions)
    )


def render_notes(values: Mapping[str, Any] | None = None, api_versions: Sequence[str] = ()) -> str:
    rendered = render_chart(CHART, values, api_versions=api_versions)
    (notes,) = [text for path, text in rendered.items() if path.endswith("NOTES.txt")]
    return notes


def of_kind(docs: Iterable[Document], kind: str) -> list[dict[str, Any]]:
    return [doc.obj for doc in docs if doc.kind == kind]


def one(docs: Iterable[Document], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def validate_object(obj: dict[str, Any], kubernetes_version: str) -> None:
    """Validate one object: Kubernetes kinds against the API's schema (strict: no unknown
    fields), Prometheus Operator kinds against MONITORING_SCHEMAS. Any other kind fails."""
    kind = obj.get("kind", "")
    if kind in MONITORING_SCHEMAS:
        jsonschema.validate(obj, MONITORING_SCHEMAS[kind])
        return
    kubernetes_validate.validate(obj, kubernetes_version, strict=True)


def container(docs: Iterable[Document]) -> dict[str, Any]:
    (controller,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return controller


def env_of(controller: dict[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value", "") for var in controller["env"]}
