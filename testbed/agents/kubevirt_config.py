"""How the KubeVirt agent behaves: the time each step of a VM's life takes, failures to
inject, which VMs it watches and the kubelet's settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from testbed.agents.failures import NO_FAILURES, FailureInjection


@dataclass(frozen=True, slots=True)
class KubevirtTiming:
    """Seconds each step takes; ``jitter`` scales every delay by a seeded factor in
    ``[1 - jitter, 1 + jitter]``."""

    data_volume: float = 1.0  # DataVolume clone until Succeeded
    schedule: float = 0.2  # VMI Pending until Scheduled on a host
    boot: float = 2.0  # Scheduled until Running
    register: float = 1.0  # Running until the tenant Node registers
    ready: float = 1.0  # Node registered until Ready
    delete: float = 0.5  # VM deleted until its VMI, DataVolumes and Node are gone
    unschedulable_retry: float = 2.0  # a VMI no host fits tries again at least this often
    jitter: float = 0.0

    def __post_init__(self) -> None:
        for name in self.__slots__:
            value = getattr(self, name)
            if value < 0:
                raise ValueError(f"timing {name} must not be negative, not {value!r}")
        if self.jitter >= 1:
            raise ValueError(f"timing jitter must be below 1, not {self.jitter!r}")


@dataclass(frozen=True, slots=True)
class KubevirtAgentConfig:
    namespace: str | None = None  # watch VMs of this namespace only; None: every namespace
    label_selector: str = ""  # watch only VMs with these labels
    timing: KubevirtTiming = field(default_factory=KubevirtTiming)
    failures: FailureInjection = NO_FAILURES
    seed: int = 0
    max_pods: int = 110  # the kubelet's maxPods: the Node's pods allocatable
    launcher_pods: bool = True  # create virt-launcher pods that hold host capacity
    user_data_wait: float = 30.0  # how long a booting VM waits for its user-data Secret
    clock: Callable[[], float] = time.time
