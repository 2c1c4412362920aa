from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import EMPTY, Resources, to_quantity, to_units

GI = 2**30


def test_parse_counts_cpu_in_millicores_and_the_rest_in_base_units() -> None:
    resources = Resources.parse(
        {
            "cpu": "1500m",
            "memory": "2Gi",
            "pods": "110",
            "nvidia.com/gpu": 1,
            "hugepages-2Mi": "1Gi",
        }
    )
    assert resources.cpu == 1500
    assert resources.memory == 2 * GI
    assert resources.pods == 110
    assert resources["nvidia.com/gpu"] == 1
    assert resources["hugepages-2Mi"] == GI


def test_parse_of_nothing_is_empty() -> None:
    assert Resources.parse(None) is EMPTY
    assert Resources.parse({}) is EMPTY


def test_parse_rounds_up_fractions() -> None:
    assert Resources.parse({"cpu": "0.0001", "memory": "1.5"}) == Resources.of(cpu=1, memory=2)


def test_parse_rejects_a_bad_quantity() -> None:
    with pytest.raises(QuantityError, match="lots"):
        Resources.parse({"memory": "lots"})


def test_zero_amounts_are_dropped_and_absent_ones_read_as_zero() -> None:
    resources = Resources({"cpu": 0, "memory": 5})
    assert "cpu" not in resources
    assert len(resources) == 1
    assert resources["nvidia.com/gpu"] == 0
    assert resources == Resources.of(memory=5)


def test_equal_vectors_hash_equally() -> None:
    a = Resources.of(cpu=1, memory=2)
    b = Resources([("memory", 2), ("cpu", 1)])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != Resources.of(cpu=1)


def test_arithmetic_is_element_wise() -> None:
    a = Resources.of(cpu=1000, memory=4, other={"gpu": 1})
    b = Resources.of(cpu=500, pods=1)
    assert a + b == Resources.of(cpu=1500, memory=4, pods=1, other={"gpu": 1})
    assert a - b == Resources.of(cpu=500, memory=4, pods=-1, other={"gpu": 1})
    assert b * 3 == Resources.of(cpu=1500, pods=3)
    assert 2 * b == b + b
    assert a - a == EMPTY


def test_negative_detection_and_clamping() -> None:
    delta = Resources.of(cpu=-1, memory=3)
    assert delta.is_negative()
    assert delta.clamp_negative() == Resources.of(memory=3)
    assert not Resources.of(cpu=1).is_negative()


def test_fits_in_and_exceeding_name_the_short_resources() -> None:
    capacity = Resources.of(cpu=2000, memory=8 * GI, pods=110)
    assert Resources.of(cpu=2000, memory=GI, pods=1).fits_in(capacity)
    request = Resources.of(cpu=2500, memory=GI, other={"nvidia.com/gpu": 1})
    assert not request.fits_in(capacity)
    assert request.exceeding(capacity) == ["cpu", "nvidia.com/gpu"]
    assert EMPTY.fits_in(EMPTY)


def test_max_takes_the_larger_of_each_amount() -> None:
    a = Resources.of(cpu=1, memory=10)
    b = Resources.of(cpu=5, memory=2, pods=1)
    assert a.max(b) == Resources.of(cpu=5, memory=10, pods=1)


def test_how_many_fit_uses_the_scarcest_resource() -> None:
    capacity = Resources.of(cpu=4000, memory=10 * GI, pods=110)
    assert Resources.of(cpu=1000, memory=3 * GI).how_many_fit(capacity) == 3
    assert Resources.of(cpu=1000, other={"gpu": 1}).how_many_fit(capacity) == 0
    assert EMPTY.how_many_fit(capacity) > 1_000_000


def test_to_kubernetes_uses_canonical_quantities_per_resource() -> None:
    resources = Resources.of(cpu=1500, memory=3 * 2**29, pods=110, other={"hugepages-1Gi": GI})
    assert resources.to_kubernetes() == {
        "cpu": "1500m",
        "hugepages-1Gi": "1Gi",
        "memory": "1536Mi",
        "pods": "110",
    }
    assert str(Resources.of(cpu=2000)) == "cpu=2"
    assert str(EMPTY) == "nothing"


@pytest.mark.parametrize(
    ("name", "units", "text"),
    [("cpu", 250, "250m"), ("cpu", 4000, "4"), ("memory", GI, "1Gi"), ("pods", 3000, "3k")],
)
def test_to_quantity(name: str, units: int, text: str) -> None:
    assert to_quantity(name, units) == text
    assert to_units(name, text) == units


_NAMES = st.sampled_from(["cpu", "memory", "pods", "ephemeral-storage", "nvidia.com/gpu"])
_VECTORS = st.dictionaries(_NAMES, st.integers(0, 10**15), max_size=5).map(Resources)


@settings(max_examples=100, deadline=None)
@given(_VECTORS)
def test_kubernetes_form_parses_back_to_the_same_vector(resources: Resources) -> None:
    assert Resources.parse(resources.to_kubernetes()) == resources


@settings(max_examples=100, deadline=None)
@given(_VECTORS, _VECTORS)
def test_addition_then_subtraction_is_identity(a: Resources, b: Resources) -> None:
    assert (a + b) - b == a
    assert a.fits_in(a + b)


def test_messages_show_odd_byte_amounts_rounded_to_a_readable_unit() -> None:
    text = str(Resources.of(cpu=31_750, memory=127_192_604_344))
    assert text == "cpu=31750m, memory=~118.5Gi"
    assert str(Resources.of(memory=4 * 2**30)) == "memory=4Gi"
