"""PodDisruptionBudget status, kept current as pods change (the disruption controller's job),
and the decision whether an eviction may proceed."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.apiserver.selectors import LabelSelector, SelectorError, from_label_selector
from testbed.apiserver.store import Record


def pod_is_healthy(pod: Mapping[str, Any]) -> bool:
    """Running, Ready and not being deleted."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    return any(
        condition.get("type") == "Ready" and condition.get("status") == "True"
        for condition in status.get("conditions") or ()
        if isinstance(condition, Mapping)
    )


def scaled(value: Any, total: int, where: str) -> int:
    """An int-or-percent value of ``total`` (percentages round up, as the controller does)."""
    if isinstance(value, bool):
        raise ValueError(f"{where}: must be an integer or a percentage")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{where}: must be greater than or equal to 0")
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        percent = int(value[:-1])
        if percent > 100:
            raise ValueError(f"{where}: must not be greater than 100%")
        return math.ceil(percent * total / 100)
    raise ValueError(f"{where}: {value!r} must be an integer or a percentage like '50%'")


def check_spec(pdb: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Validation errors of a PodDisruptionBudget, as (field path, message)."""
    spec = pdb.get("spec") or {}
    errors: list[tuple[str, str]] = []
    if not isinstance(spec, Mapping):
        return [("spec", "must be an object")]
    if "minAvailable" in spec and "maxUnavailable" in spec:
        errors.append(("spec", "minAvailable and maxUnavailable cannot be both set"))
    for key in ("minAvailable", "maxUnavailable"):
        if key in spec:
            try:
                scaled(spec[key], 0, f"spec.{key}")
            except ValueError as error:
                errors.append((f"spec.{key}", str(error).partition(": ")[2]))
    try:
        from_label_selector(spec.get("selector", {}))
    except SelectorError as error:
        errors.append(("spec.selector", str(error)))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy not in (None, "IfHealthyBudget", "AlwaysAllow"):
        errors.append(("spec.unhealthyPodEvictionPolicy", f"unsupported value {policy!r}"))
    return errors


@dataclass
class PdbRecord:
    namespace: str
    name: str
    selector: LabelSelector
    spec: Mapping[str, Any]
    matched: set[str] = field(default_factory=set)
    healthy: set[str] = field(default_factory=set)

    def status(
        self, generation: int, previous: Mapping[str, Any] | None, now: str
    ) -> dict[str, Any]:
        """The status to store; the condition keeps its transition time while it holds."""
        expected = len(self.matched)
        current = len(self.healthy)
        if "maxUnavailable" in self.spec:
            desired = max(0, expected - scaled(self.spec["maxUnavailable"], expected, "max"))
        elif "minAvailable" in self.spec:
            desired = scaled(self.spec["minAvailable"], expected, "min")
        else:
            desired = 0
        allowed = max(0, current - desired)
        state = "True" if allowed > 0 else "False"
        since = now
        for old in (previous or {}).get("conditions") or ():
            if old.get("type") == "DisruptionAllowed" and old.get("status") == state:
                since = old.get("lastTransitionTime", now)
        condition = {
            "type": "DisruptionAllowed",
            "status": state,
            "lastTransitionTime": since,
            "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
            "message": "",
            "observedGeneration": generation,
        }
        return {
            "observedGeneration": generation,
            "disruptionsAllowed": allowed,
            "currentHealthy": current,
            "desiredHealthy": desired,
            "expectedPods": expected,
            "conditions": [condition],
        }

    @property
    def allows_unhealthy_eviction_always(self) -> bool:
        return self.spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow"


class DisruptionBudgets:
    """Which pods each budget selects and which of them are healthy, updated incrementally."""

    def __init__(self) -> None:
        self.by_namespace: dict[str, dict[str, PdbRecord]] = {}

    def budgets_for(self, namespace: str, labels: Mapping[str, str]) -> list[PdbRecord]:
        return [
            budget
            for budget in self.by_namespace.get(namespace, {}).values()
            if budget.selector.matches(labels)
        ]

    def set_budget(self, pdb: Mapping[str, Any], pods: Iterable[Record]) -> PdbRecord:
        """(Re)track a budget over the pods of its namespace."""
        metadata = pdb["metadata"]
        spec = pdb.get("spec") or {}
        budget = PdbRecord(
            namespace=metadata.get("namespace", ""),
            name=metadata["name"],
            selector=from_label_selector(spec.get("selector", {})),
            spec=spec,
        )
        for pod in pods:
            if budget.selector.matches(pod.labels):
                budget.matched.add(pod.name)
                if pod_is_healthy(pod.load()):
                    budget.healthy.add(pod.name)
        self.by_namespace.setdefault(budget.namespace, {})[budget.name] = budget
        return budget

    def remove_budget(self, namespace: str, name: str) -> None:
        budgets = self.by_namespace.get(namespace)
        if budgets is not None:
            budgets.pop(name, None)

    def pod_changed(
        self, namespace: str, name: str, labels: Mapping[str, str] | None, healthy: bool
    ) -> list[PdbRecord]:
        """Record a pod's new state (labels None: deleted); the budgets whose counts changed."""
        changed: list[PdbRecord] = []
        for budget in self.by_namespace.get(namespace, {}).values():
            selected = labels is not None and budget.selector.matches(labels)
            before = (name in budget.matched, name in budget.healthy)
            if selected:
                budget.matched.add(name)
                if healthy:
                    budget.healthy.add(name)
                else:
                    budget.healthy.discard(name)
            else:
                budget.matched.discard(name)
                budget.healthy.discard(name)
            if before != (name in budget.matched, name in budget.healthy):
                changed.append(budget)
        return changed
