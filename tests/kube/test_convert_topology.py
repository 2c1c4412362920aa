"""Topology spread constraints and pod affinity, from a raw pod to the core's model."""

from __future__ import annotations

from typing import Any

from autoscaler.core.model import LabelSelector, Requirement, TopologySpreadConstraint
from autoscaler.kube.convert import MATCH_NOTHING, namespace_from_dict, pod_from_dict

APP = {"matchLabels": {"app": "web"}}


def raw(spec: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "w", "namespace": "shop", "labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "c"}], **spec},
    }


def test_do_not_schedule_constraints_are_kept_with_their_policies() -> None:
    pod = pod_from_dict(
        raw(
            {
                "topologySpreadConstraints": [
                    {
                        "maxSkew": 2,
                        "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": APP,
                        "minDomains": 3,
                        "nodeAffinityPolicy": "Ignore",
                        "nodeTaintsPolicy": "Honor",
                    },
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": APP,
                    },
                ]
            }
        )
    )
    assert pod.topology_spread == (
        TopologySpreadConstraint(
            2,
            "topology.kubernetes.io/zone",
            LabelSelector(match_labels=(("app", "web"),)),
            min_domains=3,
            honor_node_affinity=False,
            honor_node_taints=True,
        ),
    )
    assert pod.unmodelled == ()


def test_match_label_keys_are_merged_and_a_null_selector_selects_nothing() -> None:
    labels = {"app": "web", "pod-template-hash": "abc"}
    constraint = {"maxSkew": 1, "topologyKey": "k", "whenUnsatisfiable": "DoNotSchedule"}
    pod = pod_from_dict(
        raw(
            {
                "topologySpreadConstraints": [
                    {**constraint, "labelSelector": APP, "matchLabelKeys": ["pod-template-hash"]},
                    {**constraint},
                    {**constraint, "matchLabelKeys": ["pod-template-hash", "absent"]},
                ]
            },
            labels,
        )
    )
    merged, null, from_keys = (c.selector for c in pod.topology_spread)
    hash_in = Requirement("pod-template-hash", "In", ("abc",))
    assert merged == LabelSelector((("app", "web"),), (hash_in,))
    assert null == MATCH_NOTHING
    assert from_keys == LabelSelector(match_expressions=(hash_in,))


def test_pod_affinity_with_namespace_selector_and_label_keys() -> None:
    term = {
        "labelSelector": APP,
        "topologyKey": "topology.kubernetes.io/zone",
        "namespaceSelector": {},
        "matchLabelKeys": ["release"],
        "mismatchLabelKeys": ["tenant"],
    }
    pod = pod_from_dict(
        raw(
            {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]},
                    "podAntiAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": [
                            {**term, "namespaceSelector": None, "namespaces": ["a", "b"]}
                        ]
                    },
                }
            },
            {"app": "web", "release": "r1", "tenant": "t1"},
        )
    )
    (affinity,) = pod.required_affinity
    assert affinity.namespace_selector == LabelSelector()
    assert affinity.selector.match_expressions == (
        Requirement("release", "In", ("r1",)),
        Requirement("tenant", "NotIn", ("t1",)),
    )
    (anti,) = pod.required_anti_affinity
    assert anti.namespace_selector is None and anti.namespaces == ("a", "b")


def test_an_already_merged_selector_is_not_changed() -> None:
    merged = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "release", "operator": "In", "values": ["r1"]}],
    }
    term = {"labelSelector": merged, "topologyKey": "z", "matchLabelKeys": ["release"]}
    pod = pod_from_dict(
        raw(
            {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
                }
            },
            {"app": "web", "release": "r1"},
        )
    )
    assert pod.required_affinity[0].selector.match_expressions == (
        Requirement("release", "In", ("r1",)),
    )


def test_an_affinity_term_without_selector_selects_nothing() -> None:
    term = {"topologyKey": "z"}
    pod = pod_from_dict(
        raw(
            {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
                }
            }
        )
    )
    assert pod.required_affinity[0].selector == MATCH_NOTHING


def test_a_value_the_model_cannot_evaluate_keeps_the_pod_and_names_the_field() -> None:
    constraint = {
        "maxSkew": 1,
        "topologyKey": "k",
        "whenUnsatisfiable": "DoNotSchedule",
        "nodeTaintsPolicy": "Maybe",
    }
    pod = pod_from_dict(raw({"topologySpreadConstraints": [constraint]}))
    (entry,) = pod.unmodelled
    assert entry.startswith("spec.topologySpreadConstraints[0].nodeTaintsPolicy: ")
    assert "Maybe" in entry and pod.topology_spread == ()
    odd = pod_from_dict(
        raw({"topologySpreadConstraints": [{**constraint, "whenUnsatisfiable": "Sometimes"}]})
    )
    assert "whenUnsatisfiable" in odd.unmodelled[0]
    term = {"labelSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}
    bad = pod_from_dict(
        raw(
            {
                "affinity": {
                    "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}
                }
            }
        )
    )
    assert bad.unmodelled[0].startswith(
        "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]"
    )


def test_namespace_keeps_its_labels() -> None:
    ns = namespace_from_dict({"metadata": {"name": "team-a", "labels": {"team": "a"}}})
    assert (ns.name, ns.labels) == ("team-a", {"team": "a"})
