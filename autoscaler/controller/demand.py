"""A tenant's demand for bare-metal host capacity, as the shared ledger weighs it.

Demand is registered the moment pods turn pending (from the pod cache's events, not from the
tenant's loop), so that when several tenants burst together, whichever decides first already
sees the others' demand and takes only its weighted share. A decision settles what was pending
before it: launched VMs hold reservations and what did not fit waits for capacity to free; only
pods that turn pending afterwards count as new demand.
"""

from __future__ import annotations

from autoscaler.api.resources import CPU, EMPTY, MEMORY, Resources
from autoscaler.core.capacity import HostCapacityLedger
from autoscaler.core.model import Pod


class HostDemand:
    def __init__(self, ledger: HostCapacityLedger, tenant: str, weight: int) -> None:
        self._ledger = ledger
        self._tenant = tenant
        self._weight = weight
        self._counted: dict[str, Resources] = {}
        self._cpu = 0
        self._memory = 0
        self.active = False  # only a leading loop claims capacity

    @property
    def wanted(self) -> Resources:
        return Resources({CPU: self._cpu, MEMORY: self._memory})

    def arrived(self, pod: Pod) -> None:
        if pod.key in self._counted:
            return
        requests = Resources({CPU: pod.requests.cpu, MEMORY: pod.requests.memory})
        self._counted[pod.key] = requests
        self._cpu += requests.cpu
        self._memory += requests.memory
        self._publish()

    def left(self, pod: Pod) -> None:
        requests = self._counted.pop(pod.key, None)
        if requests is None:
            return
        self._cpu -= requests.cpu
        self._memory -= requests.memory
        self._publish()

    def settled(self) -> None:
        """A decision took every pod pending so far into account."""
        self._counted.clear()
        self._cpu = self._memory = 0
        self._publish()

    def activate(self, pending: list[Pod]) -> None:
        self.active = True
        self._counted.clear()
        self._cpu = self._memory = 0
        for pod in pending:
            self.arrived(pod)
        self._publish()

    def deactivate(self) -> None:
        self.active = False
        self._ledger.set_demand(self._tenant, self._weight, EMPTY)

    def _publish(self) -> None:
        if self.active:
            self._ledger.set_demand(self._tenant, self._weight, self.wanted)
