"""What an RBAC identity grants, and which grant an API request needs.

The grants are read from the chart (management cluster) and from manifests/tenant (tenant
clusters); the requests are mapped the way the API server's authorizer sees them: API group,
resource with subresource ("pods/eviction"), verb, namespace and object name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from chart_helpers import ROOT, render

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

RBAC_KINDS = {"ClusterRole", "Role"}
TENANT_IDENTITY = ROOT / "manifests/tenant/identity.yaml"
DISCOVERY_PATHS = ("/api", "/apis", "/version")
# Subresources of a namespace itself, not resources inside it (as the API server parses paths).
NAMESPACE_SUBRESOURCES = ("status", "finalize")


@dataclass(frozen=True, slots=True)
class Rule:
    """One (apiGroup, resource, verb) of a policy rule and where it applies."""

    role: str  # "ClusterRole/name" or "Role/namespace/name"
    namespace: str | None  # the Role's namespace; None for a ClusterRole
    group: str
    resource: str
    verb: str
    names: frozenset[str] = frozenset()  # resourceNames; empty for any name

    @property
    def grant(self) -> Grant:
        return (self.group, self.resource, self.verb)


@dataclass(frozen=True, slots=True)
class Call:
    """One API request as the authorizer sees it."""

    group: str
    resource: str
    verb: str
    namespace: str | None = None
    name: str = ""

    @property
    def grant(self) -> Grant:
        return (self.group, self.resource, self.verb)

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else " (cluster-wide)"
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'}{named}{where}"


def rules_of(roles: Iterable[Mapping[str, Any]]) -> list[Rule]:
    found: list[Rule] = []
    for role in roles:
        meta = role["metadata"]
        namespace = meta.get("namespace") if role["kind"] == "Role" else None
        label = "/".join(p for p in (role["kind"], namespace, meta["name"]) if p)
        for rule in role.get("rules", []):
            names = frozenset(rule.get("resourceNames", []))
            found.extend(
                Rule(label, namespace, group, resource, verb, names)
                for group in rule.get("apiGroups", [])
                for resource in rule.get("resources", [])
                for verb in rule.get("verbs", [])
            )
    return found


def grants(roles: Iterable[Mapping[str, Any]]) -> set[Grant]:
    return {rule.grant for rule in rules_of(roles)}


def covers(rule: Rule, call: Call) -> bool:
    """Whether ``rule`` authorizes ``call``: a Role only in its namespace, resourceNames only
    for requests that name one of them (never a create, list or watch of the collection)."""
    if rule.grant != call.grant:
        return False
    if rule.namespace is not None and call.namespace != rule.namespace:
        return False
    return not rule.names or call.name in rule.names


def call_of(method: str, path: str, query: Mapping[str, str]) -> Call | None:
    """The call a request makes; None for discovery. Raises ValueError for any other
    non-resource URL, which no rule in this project grants."""
    if path.rstrip("/") in DISCOVERY_PATHS:
        return None
    parts = [part for part in path.split("/") if part]
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    elif parts[:1] in (["api"], ["apis"]) and len(parts) <= 3:
        return None  # discovery of a group or version
    else:
        raise ValueError(f"{method} {path} is not a resource request")
    watching = rest[0] == "watch"
    if watching:
        rest = rest[1:]
    namespace: str | None = None
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    resource = "/".join(rest[:1] + rest[2:3])
    name = rest[1] if len(rest) > 1 else ""
    return Call(group, resource, _verb(method, name, watching, query), namespace, name)


def _verb(method: str, name: str, watching: bool, query: Mapping[str, str]) -> str:
    if method == "GET":
        if watching or query.get("watch", "").lower() in ("true", "1"):
            return "watch"
        return "get" if name else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch"}
    if method in verbs:
        return verbs[method]
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    raise ValueError(f"{method} is not an API verb")


# The two identities -----------------------------------------------------------------------


def chart_roles(values: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    return [doc.obj for doc in render(values) if doc.kind in RBAC_KINDS]


def chart_rules(values: Mapping[str, Any] | None = None) -> list[Rule]:
    return rules_of(chart_roles(values))


def chart_rbac_rules(values: Mapping[str, Any] | None = None) -> set[Grant]:
    """Every (apiGroup, resource, verb) the chart grants the controller on the management
    cluster, through its ClusterRole and its Role."""
    return grants(chart_roles(values))


def tenant_objects() -> list[dict[str, Any]]:
    return [obj for obj in yaml.safe_load_all(TENANT_IDENTITY.read_text()) if obj]


def tenant_roles() -> list[dict[str, Any]]:
    return [obj for obj in tenant_objects() if obj["kind"] in RBAC_KINDS]


def tenant_rules() -> list[Rule]:
    return rules_of(tenant_roles())


def tenant_rbac_rules() -> set[Grant]:
    """Every (apiGroup, resource, verb) the tenant identity in manifests/tenant holds."""
    return grants(tenant_roles())
