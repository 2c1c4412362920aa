"""The base model and field types of scenario files: every model forbids unknown fields, and
durations, byte sizes and CPU amounts are read the way the files write them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    model_validator,
)
from pydantic.alias_generators import to_camel

from autoscaler.api.quantity import QuantityError
from autoscaler.api.resources import Resources
from autoscaler.sim.durations import parse_seconds


def _seconds(value: Any) -> float:
    return parse_seconds(value)


Seconds = Annotated[float, BeforeValidator(_seconds)]


def _quantity_bytes(value: Any) -> int:
    try:
        amount = Resources.parse({"memory": value}).memory
    except QuantityError as exc:
        raise ValueError(str(exc)) from exc
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def _cores_milli(value: Any) -> int:
    try:
        amount = Resources.parse({"cpu": value}).cpu
    except QuantityError as exc:
        raise ValueError(str(exc)) from exc
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


Bytes = Annotated[int, BeforeValidator(_quantity_bytes)]
MilliCPU = Annotated[int, BeforeValidator(_cores_milli)]


class Strict(BaseModel):
    """Base of every scenario model: camelCase keys, no unknown fields, immutable."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, frozen=True
    )


# Tenant ------------------------------------------------------------------------------------


class Delay(Strict):
    """A random delay: uniform between min and max, or triangular with a mode."""

    distribution: Literal["uniform", "triangular", "fixed"] = "uniform"
    min: Seconds = 0.0
    max: Seconds = 0.0
    mode: Seconds | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Delay:
        if self.min < 0 or self.max < self.min:
            raise ValueError("need 0 <= min <= max")
        if self.mode is not None and not self.min <= self.mode <= self.max:
            raise ValueError("mode must lie between min and max")
        return self

    @property
    def upper_bound(self) -> float:
        return self.min if self.distribution == "fixed" else self.max
