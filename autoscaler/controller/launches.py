"""Deterministic VM names for the launches of a plan.

A name is a pure function of the tenant, the pool, the pods the VM is sized for, its index among
the plan's launches for the same pods, and the names of the pool's VMs that exist already. A
controller restarted between creating a VM's user-data Secret and the VM itself plans the same
launch against the same VMs, gets the same name and finishes that launch instead of leaking a
second one; once a VM exists the core counts it and does not plan the launch again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from autoscaler.api.naming import vm_name
from autoscaler.core.actions import Action, LaunchVM
from autoscaler.core.model import VirtualMachine


@dataclass(frozen=True, slots=True)
class NamedLaunch:
    """A LaunchVM with the name its VM gets."""

    action: LaunchVM
    name: str


def launch_key(action: LaunchVM, index: int, existing: Iterable[str]) -> str:
    text = "\0".join([*sorted(action.pods), f"#{index}", "|", *sorted(existing)])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def name_launches(
    tenant: str,
    actions: Sequence[Action],
    vms: Iterable[VirtualMachine],
    retired: Collection[str] = (),
) -> list[Action | NamedLaunch]:
    """The plan's actions with every LaunchVM replaced by a :class:`NamedLaunch`.

    ``retired`` are names of VMs this process deleted: a replacement for the same pods gets a
    new name, so that nothing left of the old VM (a late Node, an Event) is mistaken for it.
    """
    by_pool: dict[str, list[str]] = {}
    for vm in vms:
        by_pool.setdefault(vm.pool, []).append(vm.name)
    seen: dict[tuple[str, tuple[str, ...]], int] = {}
    taken: set[str] = {name for names in by_pool.values() for name in names}
    result: list[Action | NamedLaunch] = []
    for action in actions:
        if not isinstance(action, LaunchVM):
            result.append(action)
            continue
        group = (action.pool, tuple(sorted(action.pods)))
        index = seen.get(group, 0)
        name = vm_name(tenant, action.pool, launch_key(action, index, by_pool.get(action.pool, ())))
        while name in taken or name in retired:
            index += 1
            name = vm_name(
                tenant, action.pool, launch_key(action, index, by_pool.get(action.pool, ()))
            )
        seen[group] = index + 1
        taken.add(name)
        result.append(NamedLaunch(action, name))
    return result
