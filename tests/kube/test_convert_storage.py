"""Converters of PersistentVolumeClaims, PersistentVolumes, StorageClasses and pod claims."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.core.model import (
    LabelSelector,
    NodeSelectorTerm,
    Requirement,
    VolumeBindingMode,
)
from autoscaler.core.unmodelled import placement_unknowns
from autoscaler.kube.convert import pod_from_dict
from autoscaler.kube.convert_reader import ConversionError
from autoscaler.kube.convert_storage import (
    pv_from_dict,
    pvc_from_dict,
    storage_class_from_dict,
)

GI = 2**30


def test_claim() -> None:
    claim = pvc_from_dict(
        {
            "metadata": {
                "name": "data-db-0",
                "namespace": "shop",
                "annotations": {"pv.kubernetes.io/bind-completed": "yes"},
                "deletionTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {
                "storageClassName": "fast",
                "volumeName": "pv-1",
                "accessModes": ["ReadWriteOncePod"],
                "resources": {"requests": {"storage": "10Gi"}},
                "selector": {"matchLabels": {"tier": "gold"}},
            },
            "status": {"phase": "Bound"},
        }
    )
    assert claim.key == "shop/data-db-0"
    assert claim.storage_class == "fast" and claim.volume_name == "pv-1"
    assert claim.bind_completed and claim.deleting
    assert claim.access_modes == ("ReadWriteOncePod",)
    assert claim.requested == 10 * GI
    assert claim.volume_mode == "Filesystem" and claim.phase == "Bound"
    assert claim.selector == LabelSelector(match_labels=(("tier", "gold"),))


def test_claim_class_from_the_beta_annotation_wins() -> None:
    claim = pvc_from_dict(
        {
            "metadata": {
                "name": "c",
                "namespace": "d",
                "annotations": {"volume.beta.kubernetes.io/storage-class": "old"},
            },
            "spec": {"storageClassName": "new"},
        }
    )
    assert claim.storage_class == "old" and not claim.bind_completed and claim.selector is None


def test_volume() -> None:
    volume = pv_from_dict(
        {
            "metadata": {"name": "pv-1", "labels": {"topology.kubernetes.io/zone": "a"}},
            "spec": {
                "storageClassName": "local",
                "capacity": {"storage": "100Gi"},
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": "Block",
                "claimRef": {"namespace": "shop", "name": "data-db-0"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": ["n1"],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
            "status": {"phase": "Bound"},
        }
    )
    assert volume.labels == {"topology.kubernetes.io/zone": "a"}
    assert volume.node_affinity == (
        NodeSelectorTerm((Requirement("kubernetes.io/hostname", "In", ("n1",)),)),
    )
    assert volume.capacity == 100 * GI and volume.volume_mode == "Block"
    assert volume.claim == "shop/data-db-0" and volume.phase == "Bound"


def test_storage_class() -> None:
    cls = storage_class_from_dict(
        {
            "metadata": {"name": "zonal"},
            "provisioner": "csi.example.com",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": [
                {
                    "matchLabelExpressions": [
                        {"key": "topology.kubernetes.io/zone", "values": ["a", "b"]}
                    ]
                }
            ],
        }
    )
    assert cls.binding_mode is VolumeBindingMode.WAIT_FOR_FIRST_CONSUMER
    assert cls.allowed_topologies == (
        NodeSelectorTerm((Requirement("topology.kubernetes.io/zone", "In", ("a", "b")),)),
    )
    assert storage_class_from_dict({"metadata": {"name": "x"}}).binding_mode is None


@pytest.mark.parametrize(
    ("convert", "obj", "field"),
    [
        (
            storage_class_from_dict,
            {"metadata": {"name": "x"}, "volumeBindingMode": "Later"},
            "volumeBindingMode",
        ),
        (
            pvc_from_dict,
            {
                "metadata": {"name": "x", "namespace": "d"},
                "spec": {"resources": {"requests": {"storage": "lots"}}},
            },
            "spec.resources.requests.storage",
        ),
        (
            pv_from_dict,
            {"metadata": {"name": "x"}, "spec": {"accessModes": [1]}},
            "spec.accessModes[0]",
        ),
        (pvc_from_dict, {"metadata": {"name": "x"}}, "metadata.namespace"),
    ],
)
def test_unreadable_objects_name_the_field(convert: Any, obj: dict[str, Any], field: str) -> None:
    with pytest.raises(ConversionError) as raised:
        convert(obj)
    assert raised.value.field == field


def test_pod_claims_include_generic_ephemeral_volumes() -> None:
    pod = pod_from_dict(
        {
            "metadata": {"name": "db-0", "namespace": "shop"},
            "spec": {
                "containers": [],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
                    {"name": "config", "configMap": {"name": "cfg"}},
                ],
            },
        }
    )
    assert pod.claims == ("data-db-0", "db-0-scratch")


def test_an_unreadable_claim_keeps_the_pod_from_being_planned() -> None:
    pod = pod_from_dict(
        {
            "metadata": {"name": "db-0", "namespace": "shop"},
            "spec": {
                "containers": [],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": 7}},
                    {"name": "cache", "emptyDir": {"medium": 3}},
                ],
            },
        }
    )
    assert pod.claims == ()
    assert placement_unknowns(pod) == ("spec.volumes[0].persistentVolumeClaim.claimName",)


def test_a_volume_without_node_affinity_is_available_everywhere() -> None:
    volume = pv_from_dict({"metadata": {"name": "nfs"}, "spec": {"nfs": {"server": "x"}}})
    assert volume.node_affinity == ()
