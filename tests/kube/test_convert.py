from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.resources import Resources
from autoscaler.core.model import (
    HOSTNAME_LABEL,
    HostPort,
    LabelSelector,
    NodeSelectorTerm,
    PodPhase,
    Requirement,
    Taint,
    TaintEffect,
    Toleration,
)
from autoscaler.kube.convert import (
    MATCH_NOTHING,
    daemonset_from_dict,
    node_from_dict,
    pdb_from_dict,
    pod_from_dict,
)
from autoscaler.kube.convert_reader import ConversionError

GiB = 2**30
MiB = 2**20


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def realistic_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d4b9c-x2k4q",
            "namespace": "shop",
            "uid": "3f1e2d4c-0000-4000-8000-000000000001",
            "resourceVersion": "81234",
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "annotations": {"kvpool.io/do-not-disrupt": "true", "kvpool.io/safe-to-evict": "false"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": "not-a-controller", "uid": "u0"},
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7d4b9c",
                    "uid": "u1",
                    "controller": True,
                    "blockOwnerDeletion": True,
                },
            ],
            "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {
            "schedulerName": "default-scheduler",
            "priority": 1000,
            "nodeSelector": {"disktype": "ssd"},
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": "zone", "operator": "In", "values": ["a", "b"]},
                                    {"key": "cores", "operator": "Gt", "values": ["4"]},
                                ]
                            },
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["n1"]}
                                ]
                            },
                        ]
                    }
                },
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {
                            "labelSelector": {
                                "matchLabels": {"app": "web"},
                                "matchExpressions": [{"key": "tier", "operator": "Exists"}],
                            },
                            "topologyKey": "kubernetes.io/hostname",
                        },
                        {"topologyKey": "kubernetes.io/hostname"},
                    ],
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 1, "podAffinityTerm": {"topologyKey": "zone"}}
                    ],
                },
            },
            "tolerations": [
                {"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule"},
                {"operator": "Exists"},
            ],
            "containers": [
                {
                    "name": "app",
                    "image": "shop/web:1",
                    "resources": {
                        "requests": {"cpu": "500m", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "1"},
                    },
                    "ports": [{"containerPort": 8080, "hostPort": 80, "protocol": "TCP"}],
                },
                {
                    "name": "proxy",
                    "image": "proxy:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                    "ports": [{"containerPort": 9090}],
                },
            ],
            "initContainers": [
                {
                    "name": "migrate",
                    "image": "shop/migrate:1",
                    "resources": {"requests": {"cpu": "2", "memory": "256Mi"}},
                }
            ],
            "overhead": {"cpu": "50m", "memory": "10Mi"},
            "volumes": [
                {"name": "tmp", "emptyDir": {"medium": "Memory"}},
                {"name": "cache", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "web"}},
            ],
        },
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 Insufficient cpu.",
                    "lastTransitionTime": "2024-05-01T10:00:05Z",
                }
            ],
        },
    }


def test_pod_keeps_what_the_core_needs() -> None:
    pod = pod_from_dict(realistic_pod())
    assert pod.key == "shop/web-7d4b9c-x2k4q"
    assert pod.uid.endswith("0001")
    assert pod.labels == {"app": "web", "pod-template-hash": "7d4b9c"}
    assert pod.node_selector == {"disktype": "ssd"}
    assert pod.owner_kind == "ReplicaSet" and pod.owner_name == "web-7d4b9c"
    assert pod.priority == 1000
    assert pod.phase is PodPhase.PENDING
    assert pod.unschedulable and pod.unschedulable_since == ts("2024-05-01T10:00:05")
    assert pod.created == ts("2024-05-01T10:00:00")
    assert pod.do_not_disrupt is True
    assert pod.safe_to_evict is False
    assert pod.local_storage is True
    assert not pod.terminating and not pod.scheduling_gated
    assert pod.host_ports == (HostPort(port=80),)
    assert pod.required_node_affinity == (
        NodeSelectorTerm(
            match_expressions=(
                Requirement("zone", "In", ("a", "b")),
                Requirement("cores", "Gt", ("4",)),
            )
        ),
        NodeSelectorTerm(match_fields=(Requirement("metadata.name", "In", ("n1",)),)),
    )
    (term,) = pod.required_anti_affinity  # the term without a selector matches nothing
    assert term.selector == LabelSelector(
        match_labels=(("app", "web"),),
        match_expressions=(Requirement("tier", "Exists"),),
    )
    assert term.topology_key == HOSTNAME_LABEL
    assert pod.tolerations == (
        Toleration("dedicated", "Equal", "web", TaintEffect.NO_SCHEDULE),
        Toleration("", "Exists"),
    )


def test_pod_requests_are_max_of_containers_and_init_plus_overhead() -> None:
    pod = pod_from_dict(realistic_pod())
    # containers: 600m / 1152Mi; init: 2 cpu / 256Mi; limit-only gpu defaults its request.
    assert pod.requests == Resources(
        {"cpu": 2000 + 50, "memory": 1152 * MiB + 10 * MiB, "nvidia.com/gpu": 1}
    )


def test_restartable_init_containers_add_like_the_scheduler() -> None:
    obj = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "initContainers": [
                {"name": "setup", "resources": {"requests": {"cpu": "1"}}},
                {
                    "name": "mesh",
                    "restartPolicy": "Always",
                    "resources": {"requests": {"cpu": "300m"}},
                },
                {"name": "late", "resources": {"requests": {"cpu": "1"}}},
            ],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m"}}}],
        },
    }
    # sidecar runs beside app (800m) and beside the later init container (1300m).
    assert pod_from_dict(obj).requests.cpu == 1300
    obj["spec"]["initContainers"].pop()
    assert pod_from_dict(obj).requests.cpu == 1000  # max(800m, setup 1000m, sidecar 300m)


def test_sidecar_host_ports_count() -> None:
    obj = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "initContainers": [
                {"name": "once", "ports": [{"containerPort": 1, "hostPort": 7000}]},
                {"name": "mesh", "restartPolicy": "Always", "ports": [{"hostPort": 15001}]},
            ],
            "containers": [
                {
                    "name": "app",
                    "ports": [{"hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}],
                }
            ],
        },
    }
    assert pod_from_dict(obj).host_ports == (
        HostPort(53, "UDP", "10.0.0.1"),
        HostPort(15001),
    )


def test_minimal_pod_gets_defaults() -> None:
    pod = pod_from_dict({"metadata": {"name": "p", "namespace": "ns"}})
    assert pod.requests == Resources()
    assert pod.owner_kind is None and pod.scheduler_name == "default-scheduler"
    assert pod.safe_to_evict is None and not pod.unschedulable and pod.created == 0.0


def test_scheduled_terminating_gated_pod() -> None:
    obj = realistic_pod()
    obj["metadata"]["deletionTimestamp"] = "2024-05-01T11:00:00Z"
    obj["metadata"]["annotations"] = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}
    obj["spec"]["nodeName"] = "worker-1"
    obj["spec"]["schedulingGates"] = [{"name": "example.com/wait"}]
    obj["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/var/log"}}]
    obj["status"] = {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
    }
    pod = pod_from_dict(obj)
    assert pod.terminating and pod.scheduling_gated and pod.node_name == "worker-1"
    assert pod.phase is PodPhase.RUNNING and not pod.unschedulable
    assert pod.unschedulable_since is None
    assert pod.safe_to_evict is True and pod.do_not_disrupt is False
    assert pod.local_storage is True


def test_memory_backed_empty_dir_is_not_local_storage() -> None:
    obj = realistic_pod()
    obj["spec"]["volumes"] = [{"name": "tmp", "emptyDir": {"medium": "Memory"}}]
    assert pod_from_dict(obj).local_storage is False


def noted(unmodelled: tuple[str, ...], field: str) -> bool:
    return any(entry.startswith(field + ": ") for entry in unmodelled)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda o: o["spec"]["containers"][1]["resources"]["requests"].update(cpu="lots"),
            "spec.containers[1].resources.requests.cpu",
        ),
        (lambda o: o["spec"]["containers"].__setitem__(0, "app"), "spec.containers[0]"),
        (lambda o: o["spec"].update(containers={"name": "x"}), "spec.containers"),
        (lambda o: o["metadata"]["labels"].update(app=3), "metadata.labels.app"),
        (lambda o: o["spec"].update(priority="high"), "spec.priority"),
        (lambda o: o["spec"]["tolerations"][0].update(value=7), "spec.tolerations[0].value"),
        (
            lambda o: o["status"]["conditions"][0].update(lastTransitionTime="yesterday"),
            "status.conditions[0].lastTransitionTime",
        ),
        (lambda o: o["status"].update(phase="Sleeping"), "status.phase"),
        (
            lambda o: o["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]["nodeSelectorTerms"][0]["matchExpressions"][0].update(values=[1]),
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
            ".nodeSelectorTerms[0].matchExpressions[0].values[0]",
        ),
        (
            lambda o: o["spec"]["containers"][0]["ports"][0].update(hostPort=70000),
            "spec.containers[0].ports[0].hostPort",
        ),
        (lambda o: o["spec"].update(overhead={"memory": "-x"}), "spec.overhead.memory"),
        (
            lambda o: o["metadata"]["ownerReferences"][1].update(controller="yes"),
            "metadata.ownerReferences[1].controller",
        ),
        (lambda o: o.update(spec=[]), "spec"),
    ],
)
def test_unreadable_pod_field_is_kept_and_named(mutate: Any, field: str) -> None:
    """A field the model cannot read never drops the pod: the pod is kept with that field's
    path (and the problem) in ``unmodelled``."""
    obj = realistic_pod()
    mutate(obj)
    pod = pod_from_dict(obj)
    assert (pod.namespace, pod.name) == ("shop", "web-7d4b9c-x2k4q")
    assert noted(pod.unmodelled, field), pod.unmodelled


def test_requests_that_can_be_read_still_count() -> None:
    obj = realistic_pod()
    obj["spec"]["initContainers"] = []
    obj["spec"]["containers"][1]["resources"]["requests"]["cpu"] = "lots"
    pod = pod_from_dict(obj)
    # 500m + (unreadable) + 50m overhead; memory 1Gi + 128Mi + 10Mi
    assert pod.requests.cpu == 550
    assert pod.requests.memory == (1024 + 128 + 10) * MiB


def test_unreadable_owner_and_volumes_read_cautiously() -> None:
    obj = realistic_pod()
    obj["metadata"]["ownerReferences"] = "ReplicaSet"
    obj["spec"]["volumes"] = {"name": "data"}
    pod = pod_from_dict(obj)
    assert pod.owner_kind is None  # a bare pod: a drain never evicts it
    assert pod.local_storage is True


def test_every_toleration_operator_and_effect_is_kept_as_written() -> None:
    obj = realistic_pod()
    obj["spec"]["tolerations"] = [
        {"key": "sla", "operator": "Gt", "value": "950", "effect": "NoSchedule"},
        {"key": "sla", "operator": "Lt", "value": "100"},
        {"key": "x", "operator": "Near", "effect": "Sometimes"},
    ]
    pod = pod_from_dict(obj)
    assert pod.unmodelled == ()
    assert pod.tolerations == (
        Toleration("sla", "Gt", "950", TaintEffect.NO_SCHEDULE),
        Toleration("sla", "Lt", "100"),
        Toleration("x", "Near", "", "Sometimes"),
    )


def test_unknown_node_affinity_operator_is_kept_for_the_term_to_fail() -> None:
    obj = realistic_pod()
    required = obj["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    required["nodeSelectorTerms"][0]["matchExpressions"][0]["operator"] = "Near"
    pod = pod_from_dict(obj)
    assert pod.unmodelled == ()
    assert pod.required_node_affinity[0].match_expressions[0].operator == "Near"


@pytest.mark.parametrize(
    ("terms", "expected"),
    [([], (NodeSelectorTerm(),)), (None, (NodeSelectorTerm(),)), ([{}], (NodeSelectorTerm(),))],
)
def test_required_node_affinity_without_terms_matches_nothing(
    terms: Any, expected: tuple[NodeSelectorTerm, ...]
) -> None:
    obj = realistic_pod()
    obj["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = {
        "nodeSelectorTerms": terms
    }
    assert pod_from_dict(obj).required_node_affinity == expected


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o["metadata"].pop("namespace"), "metadata.namespace"),
        (lambda o: o["metadata"].update(name=""), "metadata.name"),
    ],
)
def test_pod_without_identity_is_a_conversion_error(mutate: Any, field: str) -> None:
    obj = realistic_pod()
    mutate(obj)
    with pytest.raises(ConversionError) as info:
        pod_from_dict(obj)
    assert info.value.field == field
    assert info.value.kind == "Pod"


@pytest.mark.parametrize("obj", [None, "pod", [], {"metadata": "x"}, {"metadata": None}])
def test_garbage_is_a_conversion_error(obj: Any) -> None:
    with pytest.raises(ConversionError):
        pod_from_dict(obj)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    path=st.sampled_from(
        [
            ("spec",),
            ("status",),
            ("metadata", "labels"),
            ("spec", "containers"),
            ("spec", "affinity"),
            ("spec", "tolerations"),
            ("spec", "volumes"),
            ("spec", "initContainers"),
            ("status", "conditions"),
            ("metadata", "ownerReferences"),
            ("spec", "containers", 0, "resources"),
        ]
    ),
    value=json_values,
)
def test_any_garbage_in_any_field_is_a_conversion_error_or_a_pod(
    path: tuple[Any, ...], value: Any
) -> None:
    obj = realistic_pod()
    target = obj
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    try:
        pod_from_dict(obj)
    except ConversionError as exc:
        assert exc.name == "shop/web-7d4b9c-x2k4q"


def test_conversion_does_not_mutate_input() -> None:
    obj = realistic_pod()
    before = copy.deepcopy(obj)
    pod_from_dict(obj)
    assert obj == before


def realistic_node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "general-abc12",
            "creationTimestamp": "2024-05-01T09:00:00Z",
            "labels": {"kvpool.io/pool": "general", "kvpool.io/image-hash": "0123456789"},
        },
        "spec": {
            "providerID": "kubevirt://general-abc12",
            "taints": [
                {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                {
                    "key": "node.kubernetes.io/not-ready",
                    "effect": "NoExecute",
                    "timeAdded": "2024-05-01T09:00:00Z",
                },
            ],
        },
        "status": {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {
                "cpu": "3800m",
                "memory": "7497536Ki",
                "pods": "110",
                "ephemeral-storage": "18Gi",
            },
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady"},
            ],
        },
    }


def test_node_conversion() -> None:
    node = node_from_dict(realistic_node())
    assert node.name == "general-abc12"
    assert node.pool == "general" and node.image_hash == "0123456789"
    assert node.labels[HOSTNAME_LABEL] == "general-abc12"
    assert node.allocatable == Resources(
        {"cpu": 3800, "memory": 7497536 * 1024, "pods": 110, "ephemeral-storage": 18 * GiB}
    )
    assert node.taints == (
        Taint("dedicated", TaintEffect.NO_SCHEDULE, "gpu"),
        Taint("node.kubernetes.io/not-ready", TaintEffect.NO_EXECUTE),
    )
    assert node.ready and not node.unschedulable and not node.deleting
    assert node.created == ts("2024-05-01T09:00:00")


def test_node_not_ready_cordoned_deleting() -> None:
    obj = realistic_node()
    obj["spec"]["unschedulable"] = True
    obj["metadata"]["deletionTimestamp"] = "2024-05-01T12:00:00Z"
    obj["status"]["conditions"][1]["status"] = "Unknown"
    node = node_from_dict(obj)
    assert not node.ready and node.unschedulable and node.deleting
    del obj["status"]["conditions"]
    assert not node_from_dict(obj).ready


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o["status"]["allocatable"].update(memory="7.5 GB"), "status.allocatable.memory"),
        (lambda o: o["spec"]["taints"][0].update(effect="NoWay"), "spec.taints[0].effect"),
        (lambda o: o["spec"]["taints"][1].pop("key"), "spec.taints[1].key"),
        (lambda o: o["spec"].update(unschedulable="true"), "spec.unschedulable"),
        (lambda o: o["status"].update(conditions={"Ready": True}), "status.conditions"),
    ],
)
def test_unreadable_node_field_is_kept_and_named(mutate: Any, field: str) -> None:
    obj = realistic_node()
    mutate(obj)
    node = node_from_dict(obj)
    assert node.name == "general-abc12"
    assert noted(node.unmodelled, field), node.unmodelled


def test_unreadable_node_fields_read_cautiously() -> None:
    obj = realistic_node()
    obj["spec"]["taints"][0]["effect"] = "NoWay"
    obj["spec"]["unschedulable"] = "true"
    obj["status"]["allocatable"]["memory"] = "7.5 GB"
    node = node_from_dict(obj)
    assert node.taints[0] == Taint("dedicated", "NoWay", "gpu")  # kept, blocks like NoSchedule
    assert node.unschedulable is True
    assert "memory" not in node.allocatable and node.allocatable.cpu == 3800


def test_pdb_conversion() -> None:
    obj = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3},
    }
    pdb = pdb_from_dict(obj)
    assert (pdb.namespace, pdb.name, pdb.disruptions_allowed) == ("shop", "web", 1)
    assert pdb.selector == LabelSelector(match_labels=(("app", "web"),))
    obj["spec"]["selector"] = None
    del obj["status"]
    pdb = pdb_from_dict(obj)
    assert pdb.selector == MATCH_NOTHING and pdb.disruptions_allowed == 0
    obj["spec"]["selector"] = {
        "matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]
    }
    obj["status"] = {"disruptionsAllowed": 3}
    pdb = pdb_from_dict(obj)
    # An unreadable selector guards every pod of the namespace and allows no disruption.
    assert pdb.selector == LabelSelector() and pdb.disruptions_allowed == 0
    assert noted(pdb.unmodelled, "spec.selector.matchExpressions[0].operator")


def test_daemonset_template_becomes_a_daemonset_pod() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": "node-exporter",
            "namespace": "monitoring",
            "creationTimestamp": "2024-01-01T00:00:00Z",
        },
        "spec": {
            "selector": {"matchLabels": {"app": "node-exporter"}},
            "template": {
                "metadata": {"labels": {"app": "node-exporter"}},
                "spec": {
                    "hostNetwork": True,
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "exporter",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                            "ports": [{"containerPort": 9100, "hostPort": 9100}],
                        }
                    ],
                },
            },
        },
    }
    ds = daemonset_from_dict(obj)
    pod = ds.template
    assert (ds.namespace, ds.name) == ("monitoring", "node-exporter")
    assert pod.is_daemonset_pod and pod.owner_name == "node-exporter"
    assert pod.requests == Resources.of(cpu=100, memory=64 * MiB)
    assert pod.node_selector == {"kubernetes.io/os": "linux"}
    assert pod.host_ports == (HostPort(9100),)
    keys = {t.key for t in pod.tolerations}
    assert {
        "dedicated",
        "node.kubernetes.io/unschedulable",
        "node.kubernetes.io/network-unavailable",
    } <= keys
    obj["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = []
    pod = daemonset_from_dict(obj).template
    assert noted(pod.unmodelled, "spec.template.spec.containers[0].resources.requests.cpu")
    assert pod.requests == Resources.of(memory=64 * MiB)
