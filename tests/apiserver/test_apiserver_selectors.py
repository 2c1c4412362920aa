from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from testbed.apiserver.selectors import (
    SelectorError,
    fields_match,
    from_label_selector,
    parse_field_selector,
    parse_label_selector,
)

LABELS = {"app": "web", "tier": "front", "size": "5"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app!=web", False),
        ("app!=db", True),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("missing notin (db)", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app=web,tier in (front),!missing", True),
        ("app=web,tier=back", False),
        ("size>4", True),
        ("size<4", False),
        ("example.com/key=v", False),
    ],
)
def test_label_selector_grammar(selector: str, expected: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is expected


@pytest.mark.parametrize("selector", ["app=", "=web", "app in web", "app in (a b)", "a=b=c"])
def test_bad_label_selectors_are_rejected(selector: str) -> None:
    if selector == "app=":  # an empty value is valid: it matches an empty label
        assert parse_label_selector(selector).matches({"app": ""})
        return
    with pytest.raises(SelectorError, match="unable to parse requirement"):
        parse_label_selector(selector)


def test_metav1_label_selector() -> None:
    selector = from_label_selector(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "gone", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "gone": "x"})
    assert from_label_selector({}).matches({})
    assert not from_label_selector(None).matches(LABELS)
    with pytest.raises(SelectorError, match="operator"):
        from_label_selector({"matchExpressions": [{"key": "a", "operator": "Is"}]})


def test_field_selectors_only_accept_supported_fields() -> None:
    names = ("metadata.name", "spec.nodeName")
    requirements = parse_field_selector("spec.nodeName=n1,metadata.name!=p", names)
    assert fields_match(requirements, ("q", "n1"))
    assert not fields_match(requirements, ("p", "n1"))
    assert not fields_match(requirements, ("q", "n2"))
    with pytest.raises(SelectorError, match="field label not supported"):
        parse_field_selector("status.podIP=1", names)


label_values = st.text(alphabet="abc", min_size=1, max_size=2)


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c"]), label_values, max_size=3),
    st.sampled_from(["a", "b", "c"]),
    st.sets(label_values, min_size=1, max_size=3),
)
def test_in_and_notin_are_complements(labels: dict[str, str], key: str, values: set[str]) -> None:
    listed = ",".join(sorted(values))
    inside = parse_label_selector(f"{key} in ({listed})").matches(labels)
    outside = parse_label_selector(f"{key} notin ({listed})").matches(labels)
    assert inside != outside
    assert inside == (labels.get(key) in values)
