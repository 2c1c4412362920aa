"""Deterministic VM names for the launches of a plan."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.api.naming import is_dns_label
from autoscaler.api.policy import Shape
from autoscaler.controller.launches import NamedLaunch, name_launches
from autoscaler.core.actions import Action, CordonNode, LaunchVM, Reason
from autoscaler.core.model import VirtualMachine

GI = 1024**3
SHAPE = Shape(2000, 4 * GI)


def launch(*pods: str, pool: str = "general") -> LaunchVM:
    return LaunchVM(pool, SHAPE, "k8s", "hash", Reason.PENDING_PODS, pods=pods)


def vm(name: str, pool: str = "general") -> VirtualMachine:
    return VirtualMachine(name, pool, SHAPE, "hash", created=0.0)


def names(steps: Sequence[object]) -> list[str]:
    return [s.name for s in steps if isinstance(s, NamedLaunch)]


def test_the_same_plan_against_the_same_vms_gives_the_same_names() -> None:
    plan: list[Action] = [launch("ns/a", "ns/b"), launch("ns/c"), CordonNode("n1", Reason.EMPTY)]
    first = name_launches("team-a", plan, [vm("old")])
    again = name_launches("team-a", list(plan), [vm("old")])
    assert names(first) == names(again)
    assert isinstance(first[2], CordonNode)


def test_pod_order_does_not_change_the_name() -> None:
    assert names(name_launches("t", [launch("ns/a", "ns/b")], [])) == names(
        name_launches("t", [launch("ns/b", "ns/a")], [])
    )


def test_launches_for_the_same_pods_get_distinct_names() -> None:
    result = names(name_launches("t", [launch(), launch(), launch()], []))
    assert len(set(result)) == 3


def test_a_new_vm_in_the_pool_or_a_retired_name_changes_the_name() -> None:
    (base,) = names(name_launches("t", [launch("ns/a")], []))
    (with_vm,) = names(name_launches("t", [launch("ns/a")], [vm("other")]))
    (after_retire,) = names(name_launches("t", [launch("ns/a")], [], retired={base}))
    assert base != with_vm
    assert after_retire != base


def test_vms_of_other_pools_do_not_change_the_name() -> None:
    assert names(name_launches("t", [launch("ns/a")], [])) == names(
        name_launches("t", [launch("ns/a")], [vm("x", pool="gpu")])
    )


@settings(max_examples=40, deadline=None)
@given(
    tenant=st.from_regex(r"[a-z][a-z0-9-]{0,60}[a-z0-9]", fullmatch=True),
    pool=st.from_regex(r"[a-z][a-z0-9-]{0,60}[a-z0-9]", fullmatch=True),
    pods=st.lists(st.text(min_size=1, max_size=20), max_size=5),
)
def test_every_name_is_a_dns_label(tenant: str, pool: str, pods: list[str]) -> None:
    for name in names(name_launches(tenant, [launch(*pods, pool=pool)], [])):
        assert is_dns_label(name)
