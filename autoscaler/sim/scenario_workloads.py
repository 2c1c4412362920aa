"""The workloads of a scenario file: Deployments with replica schedules, arriving Jobs,
DaemonSets, their pods and PodDisruptionBudgets."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import Resources
from autoscaler.sim.scenario_fields import Delay, Seconds, Strict


class Point(Strict):
    at: Seconds
    value: int = Field(ge=0)


class Diurnal(Strict):
    min: int = Field(ge=0)
    max: int = Field(ge=0)
    period: Seconds = 86_400.0
    peak_at: Seconds = 14 * 3600.0

    @model_validator(mode="after")
    def _ordered(self) -> Diurnal:
        if self.min > self.max or self.period <= 0:
            raise ValueError("need min <= max and a positive period")
        return self


class ReplicaSchedule(Strict):
    """Exactly one of: constant, steps (held values), ramp (linear between points), diurnal."""

    constant: int | None = Field(default=None, ge=0)
    steps: tuple[Point, ...] | None = None
    ramp: tuple[Point, ...] | None = None
    diurnal: Diurnal | None = None
    resync: Seconds = Field(default=15.0, description="how often ramps and sines are re-read")

    @model_validator(mode="before")
    @classmethod
    def _from_int(cls, data: Any) -> Any:
        if isinstance(data, int) and not isinstance(data, bool):
            return {"constant": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ReplicaSchedule:
        given = [
            name
            for name in ("constant", "steps", "ramp", "diurnal")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of constant, steps, ramp, diurnal"
                + (f" (got {', '.join(given)})" if given else "")
            )
        points = self.steps or self.ramp
        if points is not None:
            if not points:
                raise ValueError("steps/ramp need at least one point")
            if any(b.at < a.at for a, b in itertools.pairwise(points)):
                raise ValueError("steps/ramp points must be in time order")
        if self.resync <= 0:
            raise ValueError("resync must be positive")
        return self

    def value_at(self, t: float) -> int:
        if self.constant is not None:
            return self.constant
        if self.diurnal is not None:
            d = self.diurnal
            phase = 2 * math.pi * (t - d.peak_at) / d.period
            return round(d.min + (d.max - d.min) * (1 + math.cos(phase)) / 2)
        points = self.steps if self.steps is not None else self.ramp
        assert points is not None
        if t <= points[0].at:
            return points[0].value
        for a, b in itertools.pairwise(points):
            if a.at <= t < b.at:
                if self.steps is not None or b.at == a.at:
                    return a.value
                return round(a.value + (b.value - a.value) * (t - a.at) / (b.at - a.at))
        return points[-1].value

    @property
    def changes_continuously(self) -> bool:
        return self.ramp is not None or self.diurnal is not None

    def change_times(self) -> tuple[float, ...]:
        points = self.steps or self.ramp or ()
        return tuple(p.at for p in points)


class TolerationSpec(Strict):
    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class PodSpec(Strict):
    """What the pods of a workload ask for and where they may run."""

    requests: dict[str, str | int | float] = Field(
        description="resource name -> quantity, e.g. {cpu: 500m, memory: 1Gi}"
    )
    node_selector: dict[str, str] = {}
    tolerations: tuple[TolerationSpec, ...] = ()
    spread_by_hostname: bool = Field(
        default=False, description="required anti-affinity between the workload's own pods"
    )
    do_not_disrupt: bool = False
    priority: int = 0

    @field_validator("requests")
    @classmethod
    def _quantities(cls, requests: dict[str, str | int | float]) -> dict[str, str | int | float]:
        for name, quantity in requests.items():
            try:
                units = Resources.parse({name: quantity})[name]
            except QuantityError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if units < 0:
                raise ValueError(f"{name}: must not be negative")
        return requests

    @property
    def resources(self) -> Resources:
        return Resources.parse(self.requests)


def _int_or_percent(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("expected an integer or a percentage such as '20%'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        if int(value[:-1]) > 100:
            raise ValueError("a percentage must be at most 100%")
        return value
    raise ValueError("expected an integer or a percentage such as '20%'")


IntOrPercent = Annotated[int | str, BeforeValidator(_int_or_percent)]


class DisruptionBudgetSpec(Strict):
    """A PodDisruptionBudget over the workload's pods: exactly one of the two fields."""

    min_available: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DisruptionBudgetSpec:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise ValueError("give exactly one of minAvailable, maxUnavailable")
        return self


class Deployment(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = "default"
    pod: PodSpec
    replicas: ReplicaSchedule
    pdb: DisruptionBudgetSpec | None = DisruptionBudgetSpec(max_unavailable=1)


class JobArrivals(Strict):
    """Batches of identical Jobs submitted every ``every`` seconds from ``start`` to ``until``."""

    start: Seconds = 0.0
    every: Seconds
    until: Seconds | None = None
    count: int = Field(default=1, ge=1, le=100_000)

    @model_validator(mode="after")
    def _positive(self) -> JobArrivals:
        if self.every <= 0:
            raise ValueError("every must be positive")
        return self


class JobSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = "batch"
    pod: PodSpec
    duration: Delay
    arrivals: JobArrivals | None = None


class DaemonSetSpec(Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    namespace: str = "kube-system"
    pod: PodSpec


class Workloads(Strict):
    deployments: tuple[Deployment, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    daemonsets: tuple[DaemonSetSpec, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> Workloads:
        for kind, items in (
            ("deployments", self.deployments),
            ("jobs", self.jobs),
            ("daemonsets", self.daemonsets),
        ):
            names = [item.name for item in items]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(
                    f"{kind}: names must be unique (even across namespaces); "
                    f"repeated: {', '.join(repeated)}"
                )
        return self
