"""The objects the suite applies: the shipped examples, adjusted to the cluster under test.

Starting from ``examples/`` keeps the examples honest: a field they spell wrong fails the
suite's Strict apply.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
JsonDict = dict[str, Any]
POOL = "general"
POOL_LABELS = {"pool": POOL}
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class Registration:
    """What one tenant registration names; the fake and the real clusters differ only here."""

    namespace: str
    tenant: str
    vm_namespace: str
    kubeconfig_secret: str
    image_name: str
    container_disk: str
    api_server_endpoint: str
    scale_down_unneeded_time: str


def load_example(name: str) -> JsonDict:
    loaded = yaml.safe_load((EXAMPLES / name).read_text())
    assert isinstance(loaded, dict), f"examples/{name} is not a YAML mapping"
    return loaded


def tenant_cluster(registration: Registration) -> JsonDict:
    body = copy.deepcopy(load_example("tenantcluster.yaml"))
    body["metadata"] = {"name": registration.tenant, "namespace": registration.namespace}
    spec = body["spec"]
    spec["kubeconfigSecretRef"] = {"name": registration.kubeconfig_secret, "key": "value"}
    spec["vmNamespace"] = registration.vm_namespace
    spec["images"] = [
        {"name": registration.image_name, "containerDisk": registration.container_disk}
    ]
    # Small enough for a kind cluster that emulates its VMs.
    spec["shapes"] = {
        "cpu": {"min": 1, "max": 4, "step": 1},
        "memory": {"min": "2Gi", "max": "8Gi", "step": "1Gi"},
        "memoryPerCPU": {"min": "1Gi", "max": "8Gi"},
    }
    spec["limits"] = {"vms": 4, "cpu": 16, "memory": "32Gi"}
    spec["bootstrap"] = {"kind": "kubeadm", "apiServerEndpoint": registration.api_server_endpoint}
    return body


def node_pool(registration: Registration) -> JsonDict:
    body = copy.deepcopy(load_example("nodepool.yaml"))
    assert body["metadata"]["name"] == POOL, "examples/nodepool.yaml no longer names the pool"
    body["metadata"]["annotations"].update(
        {
            "kvpool.io/max-nodes": "3",
            "kvpool.io/image": registration.image_name,
            "kvpool.io/cpu": "1-4",
            "kvpool.io/memory": "2Gi-8Gi",
            "kvpool.io/scale-down-unneeded-time": registration.scale_down_unneeded_time,
            "kvpool.io/disruption-budget": "100%",
        }
    )
    body["spec"]["template"]["labels"] = dict(POOL_LABELS)
    return body


def kubeconfig_secret(registration: Registration, kubeconfig: bytes) -> JsonDict:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": registration.kubeconfig_secret, "namespace": registration.namespace},
        "type": "Opaque",
        "data": {"value": base64.b64encode(kubeconfig).decode()},
    }


def workload_pod_template(name: str, cpu: str, memory: str) -> JsonDict:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": PAUSE_IMAGE,
                    "resources": {"requests": {"cpu": cpu, "memory": memory}},
                }
            ]
        },
    }


def deployment(name: str, namespace: str, replicas: int, template: JsonDict) -> JsonDict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(template["metadata"]["labels"])},
            "template": template,
        },
    }
