from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api import naming
from autoscaler.api.policy import Shape
from autoscaler.core import model

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

any_text = st.text(max_size=300)


def assert_dns_label(name: str) -> None:
    assert len(name) <= 63, name
    assert DNS_LABEL.match(name), name


@settings(max_examples=150)
@given(tenant=any_text, pool=any_text, key=any_text)
def test_vm_names_are_dns_labels_with_room_for_derived_names(
    tenant: str, pool: str, key: str
) -> None:
    name = naming.vm_name(tenant, pool, key)
    assert len(name) <= naming.VM_NAME_MAX
    assert_dns_label(name)
    assert_dns_label(naming.user_data_secret_name(name))
    assert_dns_label(naming.root_data_volume_name(name))


@settings(max_examples=100)
@given(tenant=any_text, pool=any_text, key=any_text)
def test_vm_names_are_deterministic(tenant: str, pool: str, key: str) -> None:
    assert naming.vm_name(tenant, pool, key) == naming.vm_name(tenant, pool, key)


@settings(max_examples=100)
@given(
    tenant=any_text, pool=any_text, keys=st.lists(any_text, min_size=2, max_size=20, unique=True)
)
def test_distinct_launch_keys_give_distinct_names(tenant: str, pool: str, keys: list[str]) -> None:
    names = {naming.vm_name(tenant, pool, key) for key in keys}
    assert len(names) == len(keys)


def test_distinct_tenants_sharing_a_truncated_prefix_get_distinct_names() -> None:
    long = "t" * 80
    assert naming.vm_name(long + "a", "p", "k") != naming.vm_name(long + "b", "p", "k")


def test_vm_name_keeps_a_readable_prefix() -> None:
    name = naming.vm_name("Team_A", "general", "launch-7")
    assert name.startswith("team-a-general-")


def test_vm_name_of_unreadable_inputs_still_valid() -> None:
    name = naming.vm_name("___", "!!!", "x")
    assert name.startswith("vm-")
    assert_dns_label(name)


@settings(max_examples=150)
@given(text=any_text)
def test_label_value_is_always_a_valid_label_value(text: str) -> None:
    value = naming.label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.match(value)
    assert naming.label_value_error(value) is None


@settings(max_examples=100)
@given(text=st.from_regex(LABEL_VALUE, fullmatch=True).filter(lambda s: len(s) <= 63))
def test_valid_label_values_are_kept_unchanged(text: str) -> None:
    assert naming.label_value(text) == text


@settings(max_examples=100)
@given(a=any_text, b=any_text)
def test_different_texts_give_different_label_values(a: str, b: str) -> None:
    if a != b:
        assert naming.label_value(a) != naming.label_value(b)


def test_object_labels() -> None:
    labels = naming.object_labels("team-a", "general", "abc123", Shape(4000, 16 * 2**30))
    assert labels == {
        "kvpool.io/tenant": "team-a",
        "kvpool.io/pool": "general",
        "kvpool.io/image-hash": "abc123",
        "kvpool.io/shape": "4cpu-16Gi",
        "app.kubernetes.io/managed-by": "kubevirt-autoscaler",
    }


def test_long_pool_names_are_hashed_into_the_label() -> None:
    pool = "a." * 60 + "pool"
    labels = naming.object_labels("t", pool, "h", Shape(2000, 2**31))
    assert naming.label_value_error(labels["kvpool.io/pool"]) is None
    assert labels["kvpool.io/pool"] != pool


def test_label_constants_agree_with_the_core_model() -> None:
    assert naming.TENANT_LABEL == model.TENANT_LABEL
    assert naming.POOL_LABEL == model.POOL_LABEL
    assert naming.IMAGE_HASH_LABEL == model.IMAGE_HASH_LABEL
    assert naming.SHAPE_LABEL == model.SHAPE_LABEL
    assert naming.HOSTNAME_LABEL == model.HOSTNAME_LABEL


def test_tenant_selector() -> None:
    assert naming.tenant_selector("team-a") == (
        "kvpool.io/tenant=team-a,app.kubernetes.io/managed-by=kubevirt-autoscaler"
    )


@pytest.mark.parametrize(
    "key",
    ["pool", "example.com/pool", "a-b_c.d", "node.kubernetes.io/instance-type", "x/" + "a" * 63],
)
def test_valid_label_keys(key: str) -> None:
    assert naming.label_key_error(key) is None


@pytest.mark.parametrize(
    "key",
    ["", "-pool", "pool-", "a b", "Example.com/pool", "example.com/", "/pool", "x/" + "a" * 64],
)
def test_invalid_label_keys_are_named_in_the_error(key: str) -> None:
    error = naming.label_key_error(key)
    assert error is not None
    assert repr(key) in error
