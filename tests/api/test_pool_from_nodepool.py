from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.api.models import load_nodepool, load_tenant_cluster
from autoscaler.core.model import POOL_LABEL, Taint, TaintEffect
from autoscaler.core.pools import check_nodepool, pool_from_nodepool, pool_from_object

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TENANT = load_tenant_cluster(yaml.safe_load((EXAMPLES / "tenantcluster.yaml").read_text()))
NODEPOOL: dict[str, Any] = yaml.safe_load((EXAMPLES / "nodepool.yaml").read_text())


def nodepool(**changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(NODEPOOL)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = obj
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return obj


def test_valid_nodepool_becomes_an_enabled_pool() -> None:
    pool = pool_from_nodepool(load_nodepool(NODEPOOL), TENANT)
    assert pool.name == "general"
    assert pool.error is None
    assert pool.settings is not None
    assert pool.settings.image == "k8s-1.31"
    assert pool.labels == {"pool": "general", POOL_LABEL: "general"}
    assert pool.taints == ()
    assert pool.image_hash == TENANT.image_sources()["k8s-1.31"].digest


def test_taints_are_carried_over() -> None:
    obj = nodepool(
        spec__template={"taints": [{"key": "gpu", "value": "yes", "effect": "NoSchedule"}]}
    )
    pool = pool_from_object(obj, TENANT)
    assert pool.taints == (Taint(key="gpu", value="yes", effect=TaintEffect.NO_SCHEDULE),)


def test_image_hash_follows_the_chosen_image() -> None:
    obj = copy.deepcopy(NODEPOOL)
    obj["metadata"]["annotations"]["kvpool.io/image"] = "golden"
    pool = pool_from_object(obj, TENANT)
    assert pool.image_hash == TENANT.image_sources()["golden"].digest
    assert pool.image_hash != TENANT.image_sources()["k8s-1.31"].digest


def test_bad_annotations_disable_the_pool_with_every_reason() -> None:
    obj = copy.deepcopy(NODEPOOL)
    obj["metadata"]["annotations"].update({"kvpool.io/cpu": "64", "kvpool.io/weight": "x"})
    pool = pool_from_object(obj, TENANT)
    assert pool.settings is None
    assert pool.error is not None
    assert 'kvpool.io/cpu: "64" is outside' in pool.error
    assert 'kvpool.io/weight: "x"' in pool.error
    assert pool.labels[POOL_LABEL] == "general"


def test_check_keeps_errors_and_warnings_apart() -> None:
    obj = copy.deepcopy(NODEPOOL)
    obj["metadata"]["annotations"]["kvpool.io/min-node"] = "1"
    check = check_nodepool(load_nodepool(obj), TENANT)
    assert check.errors == ()
    assert check.pool.settings is not None
    assert check.warnings and "did you mean kvpool.io/min-nodes?" in check.warnings[0]


@pytest.mark.parametrize("label", [POOL_LABEL, "kvpool.io/image-hash"])
def test_reserved_template_labels_are_refused(label: str) -> None:
    pool = pool_from_object(nodepool(spec__template={"labels": {label: "x"}}), TENANT)
    assert pool.error is not None
    assert f"spec.template.labels: {label} is set by the autoscaler" in pool.error


def test_a_name_too_long_for_a_label_value_is_refused() -> None:
    long_name = "a" * 70
    pool = pool_from_object(nodepool(metadata__name=long_name), TENANT)
    assert pool.name == long_name
    assert pool.error is not None
    assert "70 characters" in pool.error


@pytest.mark.parametrize(
    ("obj", "name", "fragment"),
    [
        ({}, "<unnamed>", "metadata: required field is missing"),
        ({"metadata": {"name": "x"}, "spec": "nope"}, "x", "spec: Input should be"),
        (
            {"metadata": {"name": "x", "annotations": {"kvpool.io/max-nodes": 5}}},
            "x",
            "metadata.annotations.kvpool.io/max-nodes: Input should be a valid string (got 5)",
        ),
        ({"metadata": {"name": 7}}, "<unnamed>", "metadata.name"),
        ({"metadata": "x"}, "<unnamed>", "metadata: Input should be"),
        ({"kind": "Pod", "metadata": {"name": "p"}}, "p", "kind: Input should be 'NodePool'"),
    ],
)
def test_objects_that_do_not_parse_become_disabled_pools(
    obj: dict[str, Any], name: str, fragment: str
) -> None:
    pool = pool_from_object(obj, TENANT)
    assert pool.name == name
    assert pool.settings is None
    assert pool.error is not None
    assert fragment in pool.error


@pytest.mark.parametrize("obj", [None, [], "text", 3, {"metadata": None}])
def test_pool_from_object_never_raises(obj: Any) -> None:
    pool = pool_from_object(obj, TENANT)
    assert pool.settings is None
    assert pool.error
