from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.api.annotations import (
    AnnotationResult,
    TenantPolicy,
    describe,
    parse_pool_annotations,
    show,
)
from autoscaler.api.models import TenantCluster, load_tenant_cluster
from autoscaler.api.policy import BudgetKind, DisruptionBudget, IntRange

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GI = 2**30


def example_tenant(**spec_changes: Any) -> TenantCluster:
    obj = yaml.safe_load((EXAMPLES / "tenantcluster.yaml").read_text())
    obj["spec"].update(spec_changes)
    return load_tenant_cluster(obj)


TENANT = example_tenant()
VALID: dict[str, object] = {"kvpool.io/image": "k8s-1.31"}


def parse(**annotations: object) -> AnnotationResult:
    values = {**VALID, **{f"kvpool.io/{k.replace('_', '-')}": v for k, v in annotations.items()}}
    return parse_pool_annotations(values, TENANT)


def test_example_nodepool_annotations_give_its_settings() -> None:
    obj = yaml.safe_load((EXAMPLES / "nodepool.yaml").read_text())
    result = parse_pool_annotations(obj["metadata"]["annotations"], TENANT)
    assert result.errors == ()
    assert result.warnings == ()
    settings = result.settings
    assert settings is not None
    assert settings.image == "k8s-1.31"
    assert (settings.min_nodes, settings.max_nodes) == (0, 20)
    assert settings.cpu == IntRange(2000, 16000, 2000)
    assert settings.memory == IntRange(4 * GI, 64 * GI, 2 * GI)
    assert settings.scale_down_unneeded_seconds == 600
    assert settings.scale_down_utilization_threshold == 0.5
    assert settings.expire_after_seconds == 168 * 3600
    assert settings.disruption_budget == DisruptionBudget(BudgetKind.PERCENT, 10)


def test_defaults_when_only_the_image_is_given() -> None:
    settings = parse().settings
    assert settings is not None
    assert settings.cpu == TENANT.shape_bounds().cpu
    assert settings.memory == TENANT.shape_bounds().memory
    assert (settings.min_nodes, settings.max_nodes) == (0, 10)
    assert settings.expire_after_seconds is None
    assert settings.disruption_budget == DisruptionBudget(BudgetKind.PERCENT, 10)
    assert settings.scale_down_enabled is True
    assert settings.weight == 0


def test_image_may_be_omitted_when_the_allow_list_has_one_image() -> None:
    single = example_tenant(images=[{"name": "only", "containerDisk": "registry.example/w:1"}])
    result = parse_pool_annotations({}, single)
    assert result.settings is not None
    assert result.settings.image == "only"


def test_max_nodes_default_is_capped_by_the_tenant_vm_limit() -> None:
    small = example_tenant(limits={"vms": 4})
    result = parse_pool_annotations(VALID, small)
    assert result.settings is not None
    assert result.settings.max_nodes == 4


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"cpu": "4"}, IntRange(4000, 4000, 2000)),
        ({"cpu": "3-9"}, IntRange(4000, 8000, 2000)),
        ({"cpu": " 2 - 16 "}, IntRange(2000, 16000, 2000)),
        ({"memory": "8Gi"}, IntRange(8 * GI, 8 * GI, 2 * GI)),
        ({"memory": "5Gi-9Gi"}, IntRange(6 * GI, 8 * GI, 2 * GI)),
    ],
)
def test_ranges_are_intersected_with_the_tenant_grid(
    annotations: dict[str, str], expected: IntRange
) -> None:
    settings = parse(**annotations).settings
    assert settings is not None
    assert getattr(settings, next(iter(annotations))) == expected


@pytest.mark.parametrize(
    ("knob", "value", "attribute", "expected"),
    [
        ("disruption-budget", "3", "disruption_budget", DisruptionBudget(BudgetKind.COUNT, 3)),
        ("disruption-budget", "0%", "disruption_budget", DisruptionBudget(BudgetKind.PERCENT, 0)),
        ("scale-down-enabled", "False", "scale_down_enabled", False),
        ("expire-after", "never", "expire_after_seconds", None),
        ("expire-after", "1h30m", "expire_after_seconds", 5400.0),
        ("scale-down-utilization-threshold", "1", "scale_down_utilization_threshold", 1.0),
        ("scale-down-utilization-threshold", ".25", "scale_down_utilization_threshold", 0.25),
        ("scale-down-unneeded-time", "0", "scale_down_unneeded_seconds", 0.0),
        ("weight", "100", "weight", 100),
        ("min-nodes", "10", "min_nodes", 10),
    ],
)
def test_each_knob(knob: str, value: str, attribute: str, expected: object) -> None:
    result = parse_pool_annotations({**VALID, f"kvpool.io/{knob}": value}, TENANT)
    assert result.errors == ()
    assert getattr(result.settings, attribute) == expected


# The corpus of bad values: each message must name the annotation and show the value.
BAD_CASES: list[tuple[str, object, str]] = [
    ("min-nodes", "-1", "is negative"),
    ("min-nodes", "1.5", "is not a whole number"),
    ("min-nodes", "three", "is not a whole number"),
    ("min-nodes", "", "is not a whole number"),
    ("min-nodes", 3, "is not a string"),
    ("max-nodes", "99999999999999999999", "is not a whole number"),
    ("max-nodes", "20000", "is too large"),
    ("max-nodes", "101", "above the tenant's limit of 100 VMs"),
    ("max-nodes", "0x10", "is not a whole number"),
    ("image", "ubuntu", "is not in the tenant's image allow-list (allowed: golden, k8s-1.31)"),
    ("image", "K8S-1.31", "is not in the tenant's image allow-list"),
    ("image", ["k8s-1.31"], "is not a string"),
    ("cpu", "64", "is outside the tenant's allowed cpu range 2-32"),
    ("cpu", "1-8", "is outside the tenant's allowed cpu range 2-32"),
    ("cpu", "16-2", "is an inverted range"),
    ("cpu", "0", "must be at least 1 core"),
    ("cpu", "3", "contains no cpu count that the tenant allows (2-32 in steps of 2)"),
    ("cpu", "2.5", "is not whole cores"),
    ("cpu", "500m", "is not whole cores"),
    ("cpu", "-4", "is not whole cores"),
    ("cpu", "4-", "is not whole cores"),
    ("cpu", 4, "is not a string"),
    ("memory", "256Gi", "is outside the tenant's allowed memory range 4Gi-128Gi"),
    ("memory", "64Gi-4Gi", "is an inverted range"),
    ("memory", "lots", "is not a memory size"),
    ("memory", "-8Gi", "is negative"),
    ("memory", "0", "must be greater than zero"),
    ("memory", "5Gi", "contains no memory size that the tenant allows"),
    ("memory", "4Gi-8Gi-16Gi", "is not a memory size"),
    ("scale-down-unneeded-time", "5d", "unknown unit 'd'"),
    ("scale-down-unneeded-time", "10", "has no unit"),
    ("scale-down-unneeded-time", "-10m", "is negative"),
    ("scale-down-unneeded-time", "99999999999h", "too long a duration"),
    ("scale-down-utilization-threshold", "1.5", "is above 1"),
    ("scale-down-utilization-threshold", "-0.5", "is negative"),
    ("scale-down-utilization-threshold", "nan", "is not a number"),
    ("scale-down-utilization-threshold", "50%", "is not a number"),
    ("scale-down-utilization-threshold", 0.5, "is not a string"),
    ("expire-after", "0s", "must be longer than zero"),
    ("expire-after", "forever", 'or "Never"'),
    ("expire-after", "7d", "unknown unit 'd'"),
    ("disruption-budget", "150%", "is above 100%"),
    ("disruption-budget", "-1", "is negative"),
    ("disruption-budget", "ten", "is not a node count or a percentage"),
    ("disruption-budget", "10 percent", "is not a node count or a percentage"),
    ("disruption-budget", "1e3", "is not a node count or a percentage"),
    ("disruption-budget", "50000", "is too large"),
    ("scale-down-enabled", "yes", 'expected "true" or "false"'),
    ("scale-down-enabled", True, "is not a string; annotation values must be quoted"),
    ("weight", "101", "is above 100"),
    ("weight", "-1", "is negative"),
    ("weight", "heavy", "is not a whole number"),
    ("weight", None, "is not a string"),
    ("weight", "9" * 300, "is too long (300 characters; at most 256)"),
]


@pytest.mark.parametrize(("knob", "value", "problem"), BAD_CASES)
def test_bad_value_is_named_with_its_annotation(knob: str, value: object, problem: str) -> None:
    key = f"kvpool.io/{knob}"
    result = parse_pool_annotations({**VALID, key: value}, TENANT)
    assert result.settings is None
    assert len(result.errors) == 1, result.errors
    message = result.errors[0]
    assert message.startswith(f"{key}: {show(value)} "), message
    assert problem in message


def test_the_message_matches_the_documented_form() -> None:
    assert parse(cpu="64").errors == (
        'kvpool.io/cpu: "64" is outside the tenant\'s allowed cpu range 2-32',
    )


def test_all_errors_are_collected() -> None:
    result = parse(cpu="64", memory="x", weight="-3", min_nodes="a", expire_after="1y")
    assert result.settings is None
    keys = {message.split(":")[0] for message in result.errors}
    assert keys == {
        "kvpool.io/cpu",
        "kvpool.io/memory",
        "kvpool.io/weight",
        "kvpool.io/min-nodes",
        "kvpool.io/expire-after",
    }


def test_missing_image_with_several_allowed_lists_them() -> None:
    result = parse_pool_annotations({}, TENANT)
    assert result.errors == (
        "kvpool.io/image: missing; the tenant allows several images, choose one of: "
        "golden, k8s-1.31",
    )


def test_min_nodes_above_max_nodes() -> None:
    assert parse(min_nodes="5", max_nodes="3").errors == (
        'kvpool.io/min-nodes: "5" is greater than kvpool.io/max-nodes "3"',
    )
    assert parse(min_nodes="11").errors == (
        'kvpool.io/min-nodes: "11" is greater than the default kvpool.io/max-nodes (10)',
    )


def test_cpu_and_memory_must_allow_some_shape() -> None:
    # 2-4 cores at 8Gi per core at most is 32Gi, below the 64Gi the pool asks for.
    result = parse(cpu="2-4", memory="64Gi-128Gi")
    assert result.errors == (
        'kvpool.io/cpu "2-4" and kvpool.io/memory "64Gi-128Gi": no VM shape in these ranges '
        "has between 1Gi and 8Gi of memory per cpu, as the tenant requires",
    )
    only_memory = parse(memory="128Gi")
    assert only_memory.settings is not None  # 16 cores and more give 128Gi at 8Gi per core
    only_cpu = parse(cpu="32", memory="4Gi")
    assert "no VM shape" in only_cpu.errors[0]


def test_unknown_keys_warn_with_the_closest_name_without_disabling() -> None:
    result = parse_pool_annotations(
        {**VALID, "kvpool.io/max-node": "5", "kvpool.io/zzzz": "1", "other.io/max-nodes": "1"},
        TENANT,
    )
    assert result.settings is not None
    assert result.settings.max_nodes == 10  # the misspelt key has no effect
    assert result.warnings == (
        "kvpool.io/max-node is not a known annotation and is ignored; "
        "did you mean kvpool.io/max-nodes?",
        "kvpool.io/zzzz is not a known annotation and is ignored",
    )


def test_policy_can_be_given_directly() -> None:
    policy = TenantPolicy.from_tenant(TENANT)
    assert parse_pool_annotations(VALID, policy) == parse_pool_annotations(VALID, TENANT)


def test_no_annotations_at_all() -> None:
    assert parse_pool_annotations(None, TENANT).errors[0].startswith("kvpool.io/image: missing")


def test_long_values_are_shortened_in_messages() -> None:
    message = parse(image="x" * 200).errors[0]
    assert len(message) < 160
    assert message.startswith('kvpool.io/image: "xxxx')


def test_describe_lists_the_effective_settings() -> None:
    settings = parse(cpu="4-8", disruption_budget="2").settings
    assert settings is not None
    lines = describe(settings)
    assert "cpu: 4-8 cores in steps of 2" in lines
    assert "disruption-budget: 2" in lines
    assert "expire-after: Never" in lines
