"""A fake Kubernetes API server over real HTTP, and the structural schema checks it applies."""

from autoscaler.sim.apiserver.crds import CrdError, load_crds, project_crds, resource_types
from autoscaler.sim.apiserver.errors import ApiError
from autoscaler.sim.apiserver.faults import RESET, Fault, FaultInjector
from autoscaler.sim.apiserver.registry import Registry
from autoscaler.sim.apiserver.resources import ResourceType
from autoscaler.sim.apiserver.schema import apply_defaults, prune, unknown_fields, validate
from autoscaler.sim.apiserver.server import AuditEntry, FakeApiServer, RequestInfo

__all__ = [
    "RESET",
    "ApiError",
    "AuditEntry",
    "CrdError",
    "FakeApiServer",
    "Fault",
    "FaultInjector",
    "Registry",
    "RequestInfo",
    "ResourceType",
    "apply_defaults",
    "load_crds",
    "project_crds",
    "prune",
    "resource_types",
    "unknown_fields",
    "validate",
]
