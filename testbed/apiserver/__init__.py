"""A fake Kubernetes API server over real HTTP, and the structural schema checks it applies."""

from testbed.apiserver.crds import CrdError, load_crds, project_crds, resource_types
from testbed.apiserver.errors import ApiError
from testbed.apiserver.faults import RESET, Fault, FaultInjector
from testbed.apiserver.registry import Registry
from testbed.apiserver.resources import ResourceType
from testbed.apiserver.schema import apply_defaults, prune, unknown_fields, validate
from testbed.apiserver.server import AuditEntry, FakeApiServer, RequestInfo

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
