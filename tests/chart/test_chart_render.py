"""The chart rendered by the real Helm library for several value sets: lint, Kubernetes schema
validation for every supported version, and the properties the controller's pods rely on."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
from chart_helpers import (
    CHART,
    SUPPORTED_KUBERNETES,
    VALUE_SETS,
    container,
    env_of,
    of_kind,
    one,
    render,
    render_notes,
    validate_object,
)
from pydantic import ValidationError

from autoscaler.commands.render import MONITORING_API, RELEASE_NAMESPACE, ChartError
from autoscaler.controller.settings import Settings

NAMESPACED_KINDS = {
    "Deployment",
    "Service",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ConfigMap",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
}


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_chart_lints_without_errors_or_warnings(value_set: str) -> None:
    values, _ = VALUE_SETS[value_set]
    report = helm_python.lint(
        CHART, dict(values), strict=True, namespace=RELEASE_NAMESPACE, kube_version="v1.29.0"
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [] and problems == [], report


@pytest.mark.parametrize("kubernetes_version", SUPPORTED_KUBERNETES)
@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_rendered_object_validates(value_set: str, kubernetes_version: str) -> None:
    values, api_versions = VALUE_SETS[value_set]
    docs = render(values, api_versions=api_versions)
    assert docs, "the chart rendered nothing"
    for doc in docs:
        try:
            validate_object(doc.obj, kubernetes_version)
        except Exception as error:
            pytest.fail(
                f"{doc.kind}/{doc.name} from {doc.source}, Kubernetes {kubernetes_version}: {error}"
            )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_namespaced_objects_live_in_the_release_namespace(value_set: str) -> None:
    values, api_versions = VALUE_SETS[value_set]
    for doc in render(values, api_versions=api_versions, namespace="platform"):
        namespace = doc.obj["metadata"].get("namespace")
        if doc.kind in NAMESPACED_KINDS:
            assert namespace == "platform", f"{doc.kind}/{doc.name} is in {namespace}"
        else:
            assert namespace is None, f"cluster-scoped {doc.kind}/{doc.name} has a namespace"


def test_defaults_render_the_core_objects_only() -> None:
    kinds = sorted(doc.kind for doc in render())
    assert kinds == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
        ]
    )


def test_deployment_runs_two_spread_replicas_with_leader_election() -> None:
    docs = render()
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert env_of(container(docs))["KVPOOL_LEADER_ELECT"] == "true"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_pod_runs_with_the_restricted_security_context() -> None:
    docs = render()
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(docs)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 65532
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_a_writable_empty_dir() -> None:
    docs = render({"tmpSizeLimit": "128Mi"})
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in container(docs)["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert mount.get("readOnly", False) is False
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["emptyDir"] == {"sizeLimit": "128Mi"}


def test_probes_use_the_health_endpoints_on_the_metrics_port() -> None:
    controller = container(render({"settings": {"metricsPort": 9090}}))
    (port,) = controller["ports"]
    assert port["containerPort"] == 9090
    assert controller["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert controller["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert env_of(controller)["KVPOOL_METRICS_PORT"] == "9090"


def test_settings_reach_the_process() -> None:
    docs = render({"settings": {"logFormat": "console", "logLevel": "debug"}}, namespace="platform")
    controller = container(docs)
    assert controller["args"] == ["run"]
    env = env_of(controller)
    assert env["KVPOOL_LOG_FORMAT"] == "console"
    assert env["KVPOOL_LOG_LEVEL"] == "debug"
    assert env["KVPOOL_NAMESPACE"] == "platform"


def test_lease_name_in_env_is_the_one_rbac_allows() -> None:
    docs = render({"leaderElection": {"leaseName": "kvpool-leader"}})
    env = env_of(container(docs))
    (named_rule,) = [r for r in one(docs, "Role")["rules"] if r.get("resourceNames")]
    assert named_rule["resourceNames"] == [env["KVPOOL_LEASE_NAME"]]
    assert named_rule["resourceNames"] == ["kvpool-leader"]


def test_single_replica_without_leader_election() -> None:
    docs = render({"replicaCount": 1, "leaderElection": {"enabled": False}})
    assert one(docs, "Deployment")["spec"]["replicas"] == 1
    assert env_of(container(docs))["KVPOOL_LEADER_ELECT"] == "false"
    assert one(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


def test_custom_values_are_applied() -> None:
    values, _ = VALUE_SETS["custom-resources"]
    docs = render(values)
    pod = one(docs, "Deployment")["spec"]["template"]
    controller = container(docs)
    assert controller["resources"] == values["resources"]
    assert pod["spec"]["nodeSelector"] == values["nodeSelector"]
    assert pod["spec"]["tolerations"] == values["tolerations"]
    assert pod["spec"]["imagePullSecrets"] == values["imagePullSecrets"]
    assert pod["metadata"]["annotations"] == values["podAnnotations"]
    assert env_of(controller)["KVPOOL_EXTRA"] == "1"


def test_image_digest_wins_over_tag() -> None:
    digest = "sha256:" + "ab" * 32
    assert container(render({"image": {"tag": "v9"}}))["image"].endswith(":v9")
    image = container(render({"image": {"tag": "v9", "digest": digest}}))["image"]
    assert image.endswith("@" + digest)


def test_release_name_shapes_object_names() -> None:
    docs = render(release="prod")
    names = {doc.name for doc in docs}
    assert names == {"prod-kubevirt-autoscaler"}
    (subject,) = one(docs, "ClusterRoleBinding")["subjects"]
    assert subject["name"] == one(docs, "ServiceAccount")["metadata"]["name"]


def test_pod_disruption_budget_selects_the_controller_pods() -> None:
    docs = render()
    pdb = one(docs, "PodDisruptionBudget")
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


def test_service_exposes_the_metrics_port() -> None:
    docs = render()
    service = one(docs, "Service")
    (port,) = service["spec"]["ports"]
    (container_port,) = container(docs)["ports"]
    assert port["targetPort"] == container_port["name"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize(
    ("values", "api_versions", "expected"),
    [
        ({}, (MONITORING_API,), set()),
        ({"serviceMonitor": {"enabled": True}}, (), set()),
        ({"serviceMonitor": {"enabled": True}}, (MONITORING_API,), {"ServiceMonitor"}),
        ({"podMonitor": {"enabled": True}}, (MONITORING_API,), {"PodMonitor"}),
        ({"prometheusRule": {"enabled": True}}, (), set()),
        ({"prometheusRule": {"enabled": True}}, (MONITORING_API,), {"PrometheusRule"}),
    ],
)
def test_monitoring_objects_need_their_toggle_and_the_api(
    values: dict[str, Any], api_versions: tuple[str, ...], expected: set[str]
) -> None:
    kinds = {doc.kind for doc in render(values, api_versions=api_versions)}
    assert kinds & {"ServiceMonitor", "PodMonitor", "PrometheusRule"} == expected


def test_notes_warn_when_monitoring_is_requested_without_the_api() -> None:
    values = {"serviceMonitor": {"enabled": True}}
    assert "does not serve" in render_notes(values)
    notes = render_notes(values, api_versions=(MONITORING_API,))
    assert "does not serve" not in notes
    assert "ServiceMonitor" in notes


def test_monitors_scrape_the_metrics_port() -> None:
    values = {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}
    docs = render(values, api_versions=(MONITORING_API,))
    service = one(docs, "Service")
    service_monitor = one(docs, "ServiceMonitor")["spec"]
    assert (
        service_monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert [e["port"] for e in service_monitor["endpoints"]] == [
        service["spec"]["ports"][0]["name"]
    ]
    pod_monitor = one(docs, "PodMonitor")["spec"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pod_monitor["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {p["name"] for p in container(docs)["ports"]}
    assert {e["port"] for e in pod_monitor["podMetricsEndpoints"]} <= ports


def test_network_policy_allows_only_the_controllers_traffic() -> None:
    values, _ = VALUE_SETS["network-policy"]
    docs = render(values)
    policy = one(docs, "NetworkPolicy")["spec"]
    assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert ingress["from"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
    }
    egress = [
        (
            sorted(peer.get("ipBlock", {}).get("cidr", "selector") for peer in rule["to"]),
            sorted((p["port"], p["protocol"]) for p in rule["ports"]),
        )
        for rule in policy["egress"]
    ]
    assert egress == [
        (["10.96.0.1/32", "192.168.10.0/24"], [(6443, "TCP")]),
        (["10.20.0.0/16"], [(443, "TCP"), (6443, "TCP")]),
        (["selector"], [(53, "TCP"), (53, "UDP")]),
    ]


def test_network_policy_without_tenant_addresses_allows_no_tenant_egress() -> None:
    policy = one(render({"networkPolicy": {"enabled": True}}), "NetworkPolicy")["spec"]
    cidrs = [
        peer["ipBlock"]["cidr"]
        for rule in policy["egress"]
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert cidrs == ["0.0.0.0/0"]
    assert of_kind(render(), "NetworkPolicy") == []


def test_notes_explain_tenant_registration_and_metrics() -> None:
    notes = render_notes()
    for needle in (
        "make-kubeconfig-secret.sh",
        "kind: TenantCluster",
        "kubeconfigSecretRef",
        "manifests/tenant/",
        "/metrics",
        "port-forward svc/kubevirt-autoscaler 8080",
    ):
        assert needle in notes


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_controller_settings_accept_the_environment(
    value_set: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    values, api_versions = VALUE_SETS[value_set]
    controller = container(render(values, api_versions=api_versions, namespace="platform"))
    for variable in controller["env"]:
        if variable["name"].startswith("KVPOOL_"):
            # Values from the downward API are filled in by the kubelet.
            monkeypatch.setenv(variable["name"], variable.get("value", "pod-0"))
    try:
        settings = Settings()
    except ValidationError as error:
        pytest.fail(f"the controller rejects the chart's environment: {error}")
    assert settings.namespace == "platform"
    assert settings.metrics_port == controller["ports"][0]["containerPort"]
    assert settings.identity == "pod-0"
    assert settings.leader_elect is (value_set != "single-replica")


@pytest.mark.parametrize(
    ("timings", "message"),
    [
        ({"leaseDurationSeconds": 10, "renewDeadlineSeconds": 10}, "renewDeadlineSeconds must be"),
        ({"renewDeadlineSeconds": 5, "retryPeriodSeconds": 5}, "retryPeriodSeconds must be"),
    ],
)
def test_inconsistent_lease_timings_are_refused(timings: dict[str, int], message: str) -> None:
    with pytest.raises(ChartError, match=message):
        render({"leaderElection": timings})


def test_lease_timings_reach_the_controller() -> None:
    values = {"leaderElection": {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20}}
    env = env_of(container(render(values)))
    assert env["KVPOOL_LEASE_DURATION_SECONDS"] == "30"
    assert env["KVPOOL_RENEW_DEADLINE_SECONDS"] == "20"
    assert env["KVPOOL_RETRY_PERIOD_SECONDS"] == "2"
