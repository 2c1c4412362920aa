"""A pod's effective requests as kube-scheduler counts them (component-helpers ``PodRequests``):
containers, init and sidecar containers, pod-level resources, overhead and in-place resizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from autoscaler.api.resources import Resources
from autoscaler.kube.convert_reader import (
    Reader,
    cached_counted,
    cached_units,
    guarded,
)

# Pods -------------------------------------------------------------------------------------

Amounts = dict[str, Decimal]

# Pod-level resources (spec.resources) may set these; any other name there is ignored.
_POD_LEVEL = ("cpu", "memory")
RESTART_ALWAYS = "Always"


def _add(total: Amounts, more: Mapping[str, Decimal]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, Decimal(0)) + value


def _max(total: Amounts, other: Mapping[str, Decimal]) -> None:
    for name, value in other.items():
        if name not in total or value > total[name]:
            total[name] = value


def _container_requests(
    r: Reader, container: dict[str, Any], path: str, status: Mapping[str, Any] | None
) -> Amounts:
    """One container's requests; with its status (in-place resize), the larger of what the
    spec asks, what the kubelet runs and what it allocated, per resource."""
    resources = guarded(r, {}, Reader.mapping, container, "resources", f"{path}.resources")
    requests = r.amounts(resources, "requests", f"{path}.resources.requests")
    # The API server defaults a missing request to the limit; do the same for objects that
    # did not go through admission (templates, files).
    for name, value in r.amounts(resources, "limits", f"{path}.resources.limits").items():
        requests.setdefault(name, value)
    if status is not None:
        requests = _resized(r, requests, status)
    return requests


def _resized(r: Reader, spec: Amounts, status: Mapping[str, Any]) -> Amounts:
    """``determineContainerReqs``: max(spec, status.resources, allocatedResources), or without
    the spec when the resize is infeasible."""
    path, container_status, infeasible = status["path"], status["status"], status["infeasible"]
    actual = guarded(r, {}, Reader.mapping, container_status, "resources", f"{path}.resources")
    if container_status.get("resources") is None:
        return spec
    result: Amounts = {} if infeasible else dict(spec)
    _max(result, r.amounts(actual, "requests", f"{path}.resources.requests"))
    _max(result, r.amounts(container_status, "allocatedResources", f"{path}.allocatedResources"))
    return result


def _statuses(
    r: Reader, status: dict[str, Any], key: str, infeasible: bool
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path, item in r.each(status, key, f"status.{key}"):
        name = item.get("name")
        if isinstance(name, str):
            found[name] = {"path": path, "status": item, "infeasible": infeasible}
    return found


def _resize_infeasible(status: dict[str, Any]) -> bool:
    conditions = status.get("conditions")
    for condition in conditions if isinstance(conditions, list) else ():
        if isinstance(condition, dict) and condition.get("type") == "PodResizePending":
            return bool(condition.get("reason") == "Infeasible")
    return False


def effective_requests(r: Reader, spec: dict[str, Any], status: dict[str, Any]) -> Resources:
    """What kube-scheduler reserves for the pod: ``PodRequests`` of component-helpers
    (sidecars, init containers, pod-level resources, overhead), with the resources of a
    running pod's containers as its status reports them (``UseStatusResources``)."""
    bound = bool(spec.get("nodeName"))
    infeasible = _resize_infeasible(status) if bound else False
    running = _statuses(r, status, "containerStatuses", infeasible) if bound else {}
    running_init = _statuses(r, status, "initContainerStatuses", infeasible) if bound else {}
    total: Amounts = {}
    for path, container in r.each(spec, "containers", "spec.containers"):
        _add(total, _container_requests(r, container, path, running.get(container.get("name"))))
    sidecars: Amounts = {}
    init_peak: Amounts = {}
    for path, container in r.each(spec, "initContainers", "spec.initContainers"):
        sidecar = container.get("restartPolicy") == RESTART_ALWAYS
        state = running_init.get(container.get("name")) if sidecar else None
        requests = _container_requests(r, container, path, state)
        if sidecar:
            # A sidecar keeps running next to the app containers and the later init containers.
            _add(total, requests)
            _add(sidecars, requests)
            peak = dict(sidecars)
        else:
            peak = dict(requests)
            _add(peak, sidecars)
        _max(init_peak, peak)
    _max(total, init_peak)
    pod_level = guarded(r, {}, Reader.mapping, spec, "resources", "spec.resources")
    if pod_level:
        declared = r.amounts(pod_level, "requests", "spec.resources.requests")
        total.update(
            (name, value)
            for name, value in declared.items()
            if name in _POD_LEVEL or name.startswith("hugepages-")
        )
    _add(total, r.amounts(spec, "overhead", "spec.overhead"))
    return Resources(
        {name: cached_units(name, value) for name, value in total.items() if cached_counted(name)}
    )
