"""The scenario's tenant and NodePools as the controller would read them from the API.

The tenant becomes a real ``TenantCluster`` and each pool a NodePool object that goes through
the real annotation parser (``core.pools.pool_from_object``), so a bad annotation in a scenario
disables that pool with the same message an operator would see.
"""

from __future__ import annotations

from typing import Any

from autoscaler.api.models import API_VERSION, TenantCluster, load_tenant_cluster
from autoscaler.core.model import Pool
from autoscaler.core.pools import pool_from_object
from autoscaler.sim.scenario import PoolSpec, Tenant


def tenant_cluster(tenant: Tenant) -> TenantCluster:
    return load_tenant_cluster(
        {
            "apiVersion": API_VERSION,
            "kind": "TenantCluster",
            "metadata": {"name": tenant.name, "namespace": "kvpool-system"},
            "spec": {
                "kubeconfigSecretRef": {"name": f"{tenant.name}-kubeconfig"},
                "vmNamespace": f"{tenant.name}-vms",
                "images": [i.model_dump(by_alias=True, exclude_none=True) for i in tenant.images],
                "shapes": tenant.shapes.model_dump(by_alias=True, exclude_none=True),
                "limits": tenant.limits.model_dump(by_alias=True, exclude_none=True),
                **({"zones": list(tenant.zones)} if tenant.zones else {}),
                "bootstrap": {
                    "kind": "kubeadm",
                    "apiServerEndpoint": f"https://{tenant.name}.sim.invalid:6443",
                },
            },
        }
    )


def nodepool_object(spec: PoolSpec, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": spec.name, "annotations": dict(annotations)},
        "spec": {"template": spec.template.model_dump(by_alias=True, exclude_none=True)},
    }


class Pools:
    """The tenant's pools; an annotation change re-parses the pool like a NodePool update."""

    def __init__(self, tenant: Tenant, specs: tuple[PoolSpec, ...]) -> None:
        self.tenant = tenant_cluster(tenant)
        self._specs = {spec.name: spec for spec in specs}
        self._annotations = {spec.name: dict(spec.annotations) for spec in specs}

    def build(self) -> dict[str, Pool]:
        return {
            name: pool_from_object(nodepool_object(spec, self._annotations[name]), self.tenant)
            for name, spec in self._specs.items()
        }

    def set_annotation(self, pool: str, key: str, value: str | None) -> Pool:
        annotations = self._annotations[pool]
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = value
        return pool_from_object(nodepool_object(self._specs[pool], annotations), self.tenant)
