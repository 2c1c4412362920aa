from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.apiserver import apply_defaults, prune, unknown_fields, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number"},
                "enabled": {"type": "boolean"},
                "mode": {"type": "string", "enum": ["fast", "slow"]},
                "port": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "empty": {"type": "object"},
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"key": {"type": "string"}},
                    },
                },
                "template": {"type": "object", "x-kubernetes-embedded-resource": True},
            },
        }
    },
}


def good() -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "x", "anything": "goes"},
        "spec": {
            "name": "abc",
            "count": 3,
            "ratio": 0.5,
            "enabled": True,
            "mode": "fast",
            "port": "http",
            "note": None,
            "tags": ["a"],
            "labels": {"k": "v"},
            "free": {"whatever": {"deep": [1]}},
            "empty": {},
            "items": [{"key": "a"}],
            "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        },
    }


def test_a_valid_object_has_no_problems() -> None:
    assert validate(good(), SCHEMA) == []
    assert unknown_fields(good(), SCHEMA) == []


def test_unknown_fields_are_reported_with_their_path() -> None:
    obj = good()
    obj["spec"]["items"][0]["kee"] = "typo"
    obj["spec"]["empty"]["x"] = 1
    obj["spec"]["colour"] = "red"
    obj["top"] = 1
    assert sorted(unknown_fields(obj, SCHEMA)) == [
        "spec.colour",
        "spec.empty.x",
        "spec.items[0].kee",
        "top",
    ]
    problems = validate(obj, SCHEMA)
    assert "spec.items[0].kee: unknown field (not declared in the schema)" in problems
    assert len(problems) == 4


def test_types_enums_bounds_and_patterns_are_checked() -> None:
    obj = good()
    spec = obj["spec"]
    spec.update(
        name="ABC",
        count=11,
        ratio="half",
        enabled="yes",
        mode="medium",
        port=1.5,
        tags=["a", "b", "c"],
        labels={"k": 1},
    )
    problems = validate(obj, SCHEMA)
    paths = sorted(problem.split(": ")[0] for problem in problems)
    assert paths == [
        "spec.count",
        "spec.enabled",
        "spec.labels[k]",
        "spec.mode",
        "spec.name",
        "spec.port",
        "spec.ratio",
        "spec.tags",
    ]
    assert any("unsupported value 'medium'" in problem for problem in problems)


def test_required_fields_and_nulls() -> None:
    obj = good()
    del obj["spec"]["name"]
    obj["spec"]["mode"] = None
    problems = validate(obj, SCHEMA)
    assert "spec.name: required field is missing" in problems
    assert "spec.mode: must not be null (the field is not nullable)" in problems
    assert validate({"metadata": {}}, SCHEMA) == ["spec: required field is missing"]


def test_integer_accepts_integral_floats_but_not_booleans() -> None:
    obj = good()
    obj["spec"]["count"] = 2.0
    assert validate(obj, SCHEMA) == []
    obj["spec"]["count"] = True
    assert validate(obj, SCHEMA) == ["spec.count: must be of type integer, got boolean"]


def test_int_or_string_accepts_both() -> None:
    for port in (8080, "http"):
        obj = good()
        obj["spec"]["port"] = port
        assert validate(obj, SCHEMA) == []


def test_a_fragment_can_be_checked_without_resource_fields() -> None:
    spec_schema = SCHEMA["properties"]["spec"]
    assert validate({"name": "a", "kind": "x"}, spec_schema, resource_root=False) == [
        "kind: unknown field (not declared in the schema)"
    ]


def test_prune_drops_unknown_fields_and_disallowed_nulls_only() -> None:
    obj = good()
    obj["spec"]["colour"] = "red"
    obj["spec"]["mode"] = None
    obj["spec"]["items"][0]["kee"] = 1
    pruned = prune(obj, SCHEMA)
    assert "colour" not in pruned["spec"] and "mode" not in pruned["spec"]
    assert pruned["spec"]["items"] == [{"key": "a"}]
    assert pruned["spec"]["note"] is None  # nullable: kept
    assert pruned["spec"]["free"] == {"whatever": {"deep": [1]}}
    assert pruned["metadata"] == {"name": "x", "anything": "goes"}
    assert obj["spec"]["colour"] == "red"  # the input is not modified


def test_defaults_fill_missing_fields_top_down() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "default": {},
                "properties": {
                    "mode": {"type": "string", "default": "fast"},
                    "items": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"weight": {"type": "integer", "default": 1}},
                        },
                    },
                },
            }
        },
    }
    assert apply_defaults({}, schema) == {"spec": {"mode": "fast"}}
    filled = apply_defaults({"spec": {"mode": "slow", "items": [{}, {"weight": 5}]}}, schema)
    assert filled == {"spec": {"mode": "slow", "items": [{"weight": 1}, {"weight": 5}]}}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "count", "x", "key", "free"]), children, max_size=3
        )
    ),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["spec", "other", "metadata"]), json_values, max_size=3))
def test_pruned_objects_have_no_unknown_fields_and_pruning_is_idempotent(obj: dict) -> None:
    before = copy.deepcopy(obj)
    pruned = prune(obj, SCHEMA)
    assert obj == before
    assert unknown_fields(pruned, SCHEMA) == []
    assert prune(pruned, SCHEMA) == pruned
    assert all("unknown field" not in problem for problem in validate(pruned, SCHEMA))


def _vm(volume: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "kubevirt.io/v1",
        "kind": "VirtualMachine",
        "metadata": {"name": "vm", "namespace": "tenant"},
        "spec": {
            "runStrategy": "Always",
            "template": {
                "metadata": {"labels": {"kvpool.io/pool": "general"}},
                "spec": {
                    "domain": {
                        "cpu": {"cores": 2},
                        "memory": {"guest": "4Gi"},
                        "resources": {"requests": {"memory": "4Gi", "cpu": 2}},
                        "devices": {
                            "disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                            "interfaces": [{"name": "default", "masquerade": {}}],
                        },
                    },
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [
                        {"name": "root", "containerDisk": {"image": "registry/worker:1"}},
                        volume,
                    ],
                },
            },
        },
    }


def test_kubevirt_schema_accepts_secret_ref_and_rejects_a_misspelling(
    vm_schema: dict[str, Any],
) -> None:
    right = _vm({"name": "ci", "cloudInitNoCloud": {"secretRef": {"name": "bootstrap"}}})
    assert validate(right, vm_schema) == []
    wrong = _vm({"name": "ci", "cloudInitNoCloud": {"userDataSecretRef": {"name": "bootstrap"}}})
    assert unknown_fields(wrong, vm_schema) == [
        "spec.template.spec.volumes[1].cloudInitNoCloud.userDataSecretRef"
    ]
    assert prune(wrong, vm_schema)["spec"]["template"]["spec"]["volumes"][1] == {
        "name": "ci",
        "cloudInitNoCloud": {},
    }


def test_kubevirt_schema_checks_types_and_required_fields(vm_schema: dict[str, Any]) -> None:
    vm = _vm({"name": "ci", "cloudInitNoCloud": {"secretRef": {"name": "bootstrap"}}})
    vm["spec"]["runStrategy"] = 3
    del vm["spec"]["template"]["spec"]["domain"]["devices"]["disks"][0]["name"]
    problems = validate(vm, vm_schema)
    assert "spec.runStrategy: must be of type string, got number" in problems
    assert "spec.template.spec.domain.devices.disks[0].name: required field is missing" in problems
