from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.apiserver.patch import (
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)

# RFC 7386 appendix A
RFC7386 = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386)
def test_merge_patch_follows_rfc7386(target: object, patch: object, expected: object) -> None:
    assert merge_patch(target, patch) == expected


def test_json_patch_operations() -> None:
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    result = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/a/e"},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "test", "path": "/a/e", "value": "y"},
            {"op": "add", "path": "/k~1v", "value": True},
        ],
    )
    assert result == {"a": {"b": [0, 2, 3], "e": "y"}, "c": "y", "k/v": True}
    assert doc == {"a": {"b": [1, 2]}, "c": "x"}


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ({"op": "add"}, "array of operations"),
        ([{"op": "remove", "path": "/missing"}], "does not exist"),
        ([{"op": "replace", "path": "/a/9", "value": 1}], "out of range"),
        ([{"op": "test", "path": "/c", "value": "z"}], "test '/c' failed"),
        ([{"op": "jump", "path": "/c"}], "unknown op"),
        ([{"op": "move", "from": "/a", "path": "/a/b"}], "own child"),
    ],
)
def test_json_patch_errors_name_the_problem(operations: object, message: str) -> None:
    with pytest.raises(PatchError, match=message):
        json_patch({"a": [1], "c": "x"}, operations)


def test_strategic_merge_merges_keyed_lists_and_finalizers() -> None:
    node = {
        "metadata": {"finalizers": ["a"]},
        "status": {
            "conditions": [
                {"type": "Ready", "status": "False"},
                {"type": "MemoryPressure", "status": "False"},
            ]
        },
        "spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]},
    }
    patched = strategic_merge_patch(
        node,
        {
            "metadata": {"finalizers": ["b"]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            "spec": {"taints": []},
        },
    )
    assert patched["status"]["conditions"] == [
        {"type": "Ready", "status": "True"},
        {"type": "MemoryPressure", "status": "False"},
    ]
    assert patched["metadata"]["finalizers"] == ["a", "b"]
    assert patched["spec"]["taints"] == []
    removed = strategic_merge_patch(
        patched,
        {
            "metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]},
            "status": {"conditions": [{"type": "MemoryPressure", "$patch": "delete"}]},
        },
    )
    assert removed["metadata"]["finalizers"] == ["b"]
    assert removed["status"]["conditions"] == [{"type": "Ready", "status": "True"}]


json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=3)
json_tree = st.recursive(
    json_leaf,
    lambda children: st.dictionaries(st.sampled_from("abc"), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from("abc"), json_tree, max_size=3), json_tree)
def test_a_merge_patch_applied_twice_changes_nothing_more(target: dict, patch: object) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
