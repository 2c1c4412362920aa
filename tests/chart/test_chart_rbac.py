"""Least privilege: what the chart grants the controller on the management cluster, and what
manifests/tenant grants its identity in a tenant cluster."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from chart_helpers import one, render
from rbac_grants import chart_roles, grants, tenant_objects, tenant_roles

# That the chart and the tenant identity grant exactly what the controller uses is proved by
# test_rbac_matches_controller.py, from the requests of a whole life cycle of the controller.


def wildcards(roles: Iterable[Mapping[str, Any]]) -> list[str]:
    return [
        f"{role['kind']}/{role['metadata']['name']} {field}"
        for role in roles
        for rule in role.get("rules", [])
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
        if any("*" in entry for entry in rule.get(field, []))
    ]


def test_chart_rbac_has_no_wildcards() -> None:
    assert wildcards(chart_roles()) == []


def test_chart_rbac_lives_in_one_template() -> None:
    sources = {doc.source for doc in render() if doc.kind.startswith(("ClusterRole", "Role"))}
    assert sources == {"kubevirt-autoscaler/templates/rbac.yaml"}


def test_lease_access_is_namespaced_and_limited_by_name() -> None:
    docs = render({"leaderElection": {"leaseName": "kvpool-leader"}})
    cluster_role = one(docs, "ClusterRole")
    assert not any("leases" in rule["resources"] for rule in cluster_role["rules"])
    lease_rules = [r for r in one(docs, "Role")["rules"] if "leases" in r["resources"]]
    by_verb = {verb: rule for rule in lease_rules for verb in rule["verbs"]}
    assert set(by_verb) == {"create", "get", "update"}
    assert by_verb["get"]["resourceNames"] == ["kvpool-leader"]
    assert by_verb["update"]["resourceNames"] == ["kvpool-leader"]
    # A create request carries no name that resourceNames could match.
    assert "resourceNames" not in by_verb["create"]


def test_tenant_clusters_are_read_only_in_the_release_namespace() -> None:
    docs = render()
    role = one(docs, "Role")
    assert role["metadata"]["namespace"] == "kvpool-system"
    assert {
        g for g in grants([one(docs, "ClusterRole")]) if g[0] == "autoscaling.kvpool.io"
    } == set()
    verbs = {verb for _, resource, verb in grants([role]) if resource == "tenantclusters"}
    assert verbs and verbs <= {"get", "list", "watch"}


def test_bindings_give_the_roles_to_the_controller_service_account() -> None:
    docs = render(release="prod", namespace="platform")
    account = one(docs, "ServiceAccount")["metadata"]
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = one(docs, binding_kind)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": role_kind,
            "name": one(docs, role_kind)["metadata"]["name"],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": "platform"}
        ]


def test_rbac_can_be_left_to_the_platform_team() -> None:
    docs = render({"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "mine"}})
    assert {doc.kind for doc in docs} & {"ClusterRole", "Role", "ServiceAccount"} == set()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "mine"


def test_tenant_identity_has_no_wildcards() -> None:
    assert wildcards(tenant_roles()) == []


def test_tenant_secrets_are_reachable_only_in_kube_system() -> None:
    with_secrets = [
        obj for obj in tenant_roles() if any("secrets" in r["resources"] for r in obj["rules"])
    ]
    assert [(o["kind"], o["metadata"].get("namespace")) for o in with_secrets] == [
        ("Role", "kube-system")
    ]


@pytest.mark.parametrize("binding_kind", ["ClusterRoleBinding", "RoleBinding"])
def test_tenant_bindings_name_the_identity_and_its_roles(binding_kind: str) -> None:
    objects = tenant_objects()
    (account,) = [o for o in objects if o["kind"] == "ServiceAccount"]
    (token,) = [o for o in objects if o["kind"] == "Secret"]
    assert token["type"] == "kubernetes.io/service-account-token"
    assert (
        token["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        == (account["metadata"]["name"])
    )
    role_kind = binding_kind.removesuffix("Binding")
    (binding,) = [o for o in objects if o["kind"] == binding_kind]
    (role,) = [o for o in objects if o["kind"] == role_kind]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["metadata"].get("namespace") == role["metadata"].get("namespace")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
