"""The per-node overhead model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.policy import Shape
from autoscaler.api.resources import Resources
from autoscaler.core.model import DaemonSet, Pod, Taint, TaintEffect, Toleration
from autoscaler.core.overhead import (
    DEFAULT_DISK_BYTES,
    EVICTION_MEMORY_BYTES,
    GI,
    MI,
    daemonset_overhead,
    host_footprint,
    kubelet_reserved,
    node_allocatable,
    virt_launcher_overhead,
)

shapes = st.builds(
    Shape,
    cpu=st.integers(1, 128).map(lambda c: c * 1000),
    memory=st.integers(1, 512).map(lambda g: g * GI),
)


@pytest.mark.parametrize(
    ("cores", "millicores"),
    [(1, 60), (2, 70), (4, 80), (8, 90), (32, 150)],
)
def test_cpu_reservation_follows_the_gke_tiers(cores: int, millicores: int) -> None:
    assert kubelet_reserved(Shape(cores * 1000, 8 * GI)).cpu == millicores


def test_memory_reservation_follows_the_gke_tiers() -> None:
    # 25% of 4Gi + 20% of the next 4Gi + 10% of the next 8Gi + 6% of the next 112Gi + 2% above
    percent_of_gi_x100 = {
        32: 25 * 4 + 20 * 4 + 10 * 8 + 6 * 16,
        256: 25 * 4 + 20 * 4 + 10 * 8 + 6 * 112 + 2 * 128,
    }
    for size, hundredths in percent_of_gi_x100.items():
        reserved = kubelet_reserved(Shape(8000, size * GI)).memory - EVICTION_MEMORY_BYTES
        assert reserved == -(-hundredths * GI // 100)


def test_small_machines_reserve_a_flat_amount() -> None:
    assert kubelet_reserved(Shape(1000, 512 * MI)).memory == 255 * MI + EVICTION_MEMORY_BYTES


def test_allocatable_has_pods_and_storage() -> None:
    allocatable = node_allocatable(Shape(2000, 4 * GI), max_pods=64)
    assert allocatable.pods == 64
    assert 0 < allocatable["ephemeral-storage"] < DEFAULT_DISK_BYTES
    assert allocatable.cpu == 2000 - kubelet_reserved(Shape(2000, 4 * GI)).cpu


@given(shapes, shapes)
@settings(max_examples=60, deadline=None)
def test_allocatable_grows_with_the_shape(a: Shape, b: Shape) -> None:
    small, large = min(a, b), max(a, b)
    if small.cpu <= large.cpu and small.memory <= large.memory:
        assert node_allocatable(small).fits_in(node_allocatable(large))
    assert node_allocatable(a).cpu < a.cpu
    assert node_allocatable(a).memory < a.memory


def test_launcher_overhead_constants() -> None:
    overhead = virt_launcher_overhead(Shape(4000, 100 * GI))
    assert overhead.cpu == 100
    assert overhead.memory == 180 * MI + 4 * 8 * MI + GI
    assert host_footprint(Shape(4000, 100 * GI)) == Resources.of(4100, 100 * GI + overhead.memory)


def _ds(name: str, cpu: int, **template: object) -> DaemonSet:
    pod = Pod(
        "kube-system",
        f"{name}-tmpl",
        requests=Resources.of(cpu=cpu, memory=cpu * MI),
        owner_kind="DaemonSet",
        **template,
    )  # type: ignore[arg-type]
    return DaemonSet("kube-system", name, pod)


def test_daemonset_overhead_counts_the_daemonsets_that_land() -> None:
    gpu = Taint("gpu", TaintEffect.NO_SCHEDULE)
    daemonsets = [
        _ds("proxy", 100, tolerations=(Toleration(operator="Exists"),)),
        _ds("logs", 50),
        _ds(
            "gpu-driver",
            200,
            node_selector={"gpu": "yes"},
            tolerations=(Toleration("gpu", "Exists"),),
        ),
    ]
    plain = daemonset_overhead({"pool": "a"}, (), daemonsets)
    assert plain == Resources.of(cpu=150, memory=150 * MI, pods=2)
    tainted = daemonset_overhead({"gpu": "yes"}, (gpu,), daemonsets)
    assert tainted == Resources.of(cpu=300, memory=300 * MI, pods=2)
    assert daemonset_overhead({}, (), []) == Resources()
