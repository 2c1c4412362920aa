from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.annotations import (
    KNOWN_ANNOTATIONS,
    TenantPolicy,
    parse_pool_annotations,
)
from autoscaler.api.models import smallest_shape
from autoscaler.api.policy import IntRange, ShapeBounds, TenantLimits

GI = 2**30


@st.composite
def policies(draw: st.DrawFn) -> TenantPolicy:
    cpu_min = draw(st.integers(1, 16))
    cpu = IntRange(
        cpu_min * 1000, draw(st.integers(cpu_min, 64)) * 1000, draw(st.integers(1, 4)) * 1000
    )
    mem_min = draw(st.integers(1, 16))
    memory = IntRange(
        mem_min * GI, draw(st.integers(mem_min, 256)) * GI, draw(st.integers(1, 4)) * GI
    )
    per_cpu_min = draw(st.integers(1, 8))
    bounds = ShapeBounds(
        cpu=cpu,
        memory=memory,
        memory_per_cpu_min=per_cpu_min * GI // 2,
        memory_per_cpu_max=draw(st.integers(per_cpu_min, 32)) * GI // 2,
    )
    images = tuple(draw(st.lists(st.sampled_from(["a", "b", "golden"]), max_size=3, unique=True)))
    vms = draw(st.one_of(st.none(), st.integers(0, 50)))
    return TenantPolicy(bounds=bounds, images=images, limits=TenantLimits(vms=vms))


_PLAUSIBLE = {
    "kvpool.io/min-nodes": st.integers(-2, 60).map(str),
    "kvpool.io/max-nodes": st.integers(-2, 60).map(str),
    "kvpool.io/image": st.sampled_from(["a", "b", "golden", "c", ""]),
    "kvpool.io/cpu": st.one_of(
        st.integers(0, 70).map(str),
        st.tuples(st.integers(0, 70), st.integers(0, 70)).map(lambda t: f"{t[0]}-{t[1]}"),
    ),
    "kvpool.io/memory": st.one_of(
        st.integers(0, 300).map(lambda n: f"{n}Gi"),
        st.tuples(st.integers(0, 300), st.integers(0, 300)).map(lambda t: f"{t[0]}Gi-{t[1]}Gi"),
        st.integers(0, 10**12).map(str),
    ),
    "kvpool.io/scale-down-unneeded-time": st.sampled_from(["10m", "0", "1h30m", "-1s", "5"]),
    "kvpool.io/scale-down-utilization-threshold": st.floats(-1, 2).map(lambda f: f"{f:.3f}"),
    "kvpool.io/expire-after": st.sampled_from(["Never", "168h", "0s", "soon"]),
    "kvpool.io/disruption-budget": st.one_of(
        st.integers(-5, 200).map(lambda n: f"{n}%"), st.integers(-5, 200).map(str)
    ),
    "kvpool.io/scale-down-enabled": st.sampled_from(["true", "false", "TRUE", "maybe"]),
    "kvpool.io/weight": st.integers(-5, 120).map(str),
}
_ANY_VALUE = st.one_of(
    st.text(max_size=16),
    st.integers(),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def annotation_maps(draw: st.DrawFn) -> dict[str, object]:
    result: dict[str, object] = {}
    for key in KNOWN_ANNOTATIONS:
        choice = draw(st.integers(0, 4))
        if choice in (1, 2, 3):
            result[key] = draw(_PLAUSIBLE[key])
        elif choice == 4:
            result[key] = draw(_ANY_VALUE)
    extra = draw(
        st.dictionaries(
            st.text(max_size=12).map(lambda s: "kvpool.io/" + s), _ANY_VALUE, max_size=2
        )
    )
    return {**extra, **result}


@settings(max_examples=300, deadline=None)
@given(policies(), annotation_maps())
def test_settings_always_lie_inside_the_tenant_bounds(
    policy: TenantPolicy, annotations: dict[str, object]
) -> None:
    result = parse_pool_annotations(annotations, policy)
    if result.settings is None:
        assert result.errors, "a pool is disabled only with a reason"
        return
    assert result.errors == ()
    pool = result.settings
    tenant = policy.bounds
    assert pool.image in policy.images
    for pool_range, tenant_range in ((pool.cpu, tenant.cpu), (pool.memory, tenant.memory)):
        assert tenant_range.contains(pool_range.min)
        assert tenant_range.contains(pool_range.max)
        assert pool_range.step % tenant_range.step == 0
    assert 0 <= pool.min_nodes <= pool.max_nodes
    if policy.limits.vms is not None:
        assert pool.max_nodes <= policy.limits.vms
    assert 0 <= pool.scale_down_utilization_threshold <= 1
    assert pool.scale_down_unneeded_seconds >= 0
    assert pool.expire_after_seconds is None or pool.expire_after_seconds > 0
    assert 0 <= pool.weight <= 100
    shape = smallest_shape(pool.cpu, pool.memory, tenant)
    assert shape is not None
    assert tenant.allows(shape)


@settings(max_examples=300, deadline=None)
@given(policies(), st.dictionaries(st.sampled_from(KNOWN_ANNOTATIONS), st.text(max_size=30)))
def test_parsing_arbitrary_strings_never_raises(
    policy: TenantPolicy, annotations: dict[str, object]
) -> None:
    result = parse_pool_annotations(annotations, policy)
    assert (result.settings is None) == bool(result.errors)
    for message in result.errors:
        assert message.startswith("kvpool.io/")


@settings(max_examples=100, deadline=None)
@given(policies())
def test_smallest_shape_is_allowed_and_minimal(policy: TenantPolicy) -> None:
    bounds = policy.bounds
    shape = smallest_shape(bounds.cpu, bounds.memory, bounds)
    if shape is None:
        return
    assert bounds.allows(shape)
    cpu = bounds.cpu.min
    while cpu < shape.cpu:  # no smaller cpu count admits any memory size
        memory = bounds.memory.min
        while memory <= bounds.memory.max:
            assert not bounds.allows(type(shape)(cpu=cpu, memory=memory))
            memory += bounds.memory.step
        cpu += bounds.cpu.step
