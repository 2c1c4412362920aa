"""What the API server does with objects: create, read, update, patch, delete (with finalizers,
cascading to dependents), status subresources, eviction under disruption budgets, binding.

Every method raises ``ApiError`` for a request a real server refuses. Write methods return the
stored ``Record`` (``record.load()`` gives the object); reads return records too, so that the
HTTP layer can send their bytes untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from testbed.apiserver import errors
from testbed.apiserver.disruption import PdbRecord, pod_is_healthy
from testbed.apiserver.errors import ApiError
from testbed.apiserver.registry_writes import WritingRegistry
from testbed.apiserver.resources import (
    NAMESPACES,
    PDBS,
    PODS,
)

JsonObject = dict[str, Any]

INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Registry(WritingRegistry):
    """All resources of one fake cluster; see the module docstring."""

    def _start(self) -> None:
        for namespace in INITIAL_NAMESPACES:
            self.create(NAMESPACES, None, {"metadata": {"name": namespace}})

    def bind(self, namespace: str, name: str, binding: Any) -> None:
        """POST pods/{name}/binding (or namespaces/{ns}/bindings): set spec.nodeName."""
        if not isinstance(binding, Mapping) or not isinstance(binding.get("target"), Mapping):
            raise errors.bad_request("a Binding needs a target")
        node = binding["target"].get("name")
        if not node:
            raise errors.invalid("Binding", name, [("target.name", "Required value")])
        previous = self.get(PODS, namespace, name)
        pod = previous.load()
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise errors.conflict(
                "pods", name, f"pod {name} is already assigned to node {spec['nodeName']!r}"
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", name, f"pod {name} is being deleted, cannot be assigned")
        spec["nodeName"] = node
        status = pod.setdefault("status", {})
        conditions = [
            condition
            for condition in status.get("conditions") or ()
            if condition.get("type") != "PodScheduled"
        ]
        conditions.append(
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": self._timestamp()}
        )
        status["conditions"] = conditions
        self._commit(PODS, pod, previous)

    def evict(self, namespace: str, name: str, eviction: Any) -> None:
        """POST pods/{name}/eviction: 429 while a disruption budget forbids it, else delete."""
        if not isinstance(eviction, Mapping):
            raise errors.bad_request("the body must be an Eviction object")
        given = (eviction.get("metadata") or {}).get("name")
        if given and given != name:
            raise errors.bad_request(
                f"name in URL does not match name in Eviction object: {name} != {given}"
            )
        record = self.get(PODS, namespace, name)
        pod = record.load()
        phase = (pod.get("status") or {}).get("phase")
        exempt = pod["metadata"].get("deletionTimestamp") or phase in (
            "Succeeded",
            "Failed",
            "Pending",
        )
        if not exempt:
            budgets = self.budgets.budgets_for(namespace, record.labels)
            if len(budgets) > 1:
                raise ApiError(
                    500,
                    "InternalError",
                    "This pod has more than one PodDisruptionBudget, which the eviction "
                    "subresource does not support.",
                )
            if budgets:
                self._check_budget(budgets[0], pod_is_healthy(pod))
        options = eviction.get("deleteOptions") or {}
        self.delete(PODS, namespace, name, options if isinstance(options, Mapping) else {})

    def _check_budget(self, budget: PdbRecord, healthy: bool) -> None:
        record = self.get(PDBS, budget.namespace, budget.name)
        status = record.load().get("status") or {}
        allowed = int(status.get("disruptionsAllowed", 0))
        current = int(status.get("currentHealthy", 0))
        desired = int(status.get("desiredHealthy", 0))
        if healthy and allowed > 0:
            return
        if not healthy and (budget.allows_unhealthy_eviction_always or current >= desired):
            return
        raise ApiError(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
            details={
                "causes": [
                    {
                        "reason": "DisruptionBudget",
                        "message": f"The disruption budget {budget.name} needs {desired} "
                        f"healthy pods and has {current} currently",
                    }
                ]
            },
        )
