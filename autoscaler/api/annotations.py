"""A NodePool's ``kvpool.io/`` annotations, parsed into :class:`PoolSettings`.

Annotations are written by the tenant, so every knob is checked on its own against what the
tenant's TenantCluster allows, and every problem is reported (not only the first). Each error
names the annotation, the bad value and what is allowed, e.g.
``kvpool.io/cpu: "64" is outside the tenant's allowed cpu range 2-32``. Unknown ``kvpool.io/``
keys are warnings: a typo there leaves a default in force but does not disable the pool.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, TypeVar

from autoscaler.api.duration import DurationError, format_duration, parse_duration
from autoscaler.api.models import TenantCluster, smallest_shape
from autoscaler.api.policy import (
    BudgetKind,
    DisruptionBudget,
    IntRange,
    PoolSettings,
    ShapeBounds,
    TenantLimits,
)
from autoscaler.api.quantity import QuantityError, QuantityFormat, format_quantity, int_value

PREFIX: Final = "kvpool.io/"
MIN_NODES: Final = "kvpool.io/min-nodes"
MAX_NODES: Final = "kvpool.io/max-nodes"
IMAGE: Final = "kvpool.io/image"
CPU: Final = "kvpool.io/cpu"
MEMORY: Final = "kvpool.io/memory"
SCALE_DOWN_UNNEEDED_TIME: Final = "kvpool.io/scale-down-unneeded-time"
SCALE_DOWN_UTILIZATION_THRESHOLD: Final = "kvpool.io/scale-down-utilization-threshold"
EXPIRE_AFTER: Final = "kvpool.io/expire-after"
DISRUPTION_BUDGET: Final = "kvpool.io/disruption-budget"
SCALE_DOWN_ENABLED: Final = "kvpool.io/scale-down-enabled"
WEIGHT: Final = "kvpool.io/weight"
KNOWN_ANNOTATIONS: Final = (
    MIN_NODES,
    MAX_NODES,
    IMAGE,
    CPU,
    MEMORY,
    SCALE_DOWN_UNNEEDED_TIME,
    SCALE_DOWN_UTILIZATION_THRESHOLD,
    EXPIRE_AFTER,
    DISRUPTION_BUDGET,
    SCALE_DOWN_ENABLED,
    WEIGHT,
)

DEFAULT_MAX_NODES: Final = 10
MAX_POOL_NODES: Final = 10_000
MAX_VALUE_LENGTH: Final = 256
MAX_WEIGHT: Final = 100

_COUNT = re.compile(r"[0-9]{1,9}")
_NEGATIVE_COUNT = re.compile(r"-[0-9]+")
_CORES = re.compile(r"([0-9]{1,9})(?:\s*-\s*([0-9]{1,9}))?")
_SIZES = re.compile(r"([^\s-]+)(?:\s*-\s*([^\s-]+))?")
_FRACTION = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_PERCENT = re.compile(r"([0-9]{1,9})\s*%")

T = TypeVar("T")


class _Invalid(Exception):
    """A knob's value is not allowed; the message continues ``<key>: "<value>" ...``."""


@dataclass(frozen=True, slots=True)
class TenantPolicy:
    """What a tenant allows its pools, unit-normalised (see :meth:`from_tenant`)."""

    bounds: ShapeBounds
    images: tuple[str, ...]
    limits: TenantLimits = field(default_factory=TenantLimits)

    @classmethod
    def from_tenant(cls, tenant: TenantCluster) -> TenantPolicy:
        return cls(
            bounds=tenant.shape_bounds(),
            images=tuple(image.name for image in tenant.spec.images),
            limits=tenant.tenant_limits(),
        )


@dataclass(frozen=True, slots=True)
class AnnotationResult:
    """``settings`` is None when there is any error; warnings never disable a pool."""

    settings: PoolSettings | None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.settings is not None


def parse_pool_annotations(
    annotations: Mapping[str, object] | None, tenant: TenantCluster | TenantPolicy
) -> AnnotationResult:
    """Parse and check every ``kvpool.io/`` knob; never raises on bad values."""
    policy = tenant if isinstance(tenant, TenantPolicy) else TenantPolicy.from_tenant(tenant)
    return _Parser(annotations or {}, policy).run()


def show(value: object, limit: int = 60) -> str:
    """A value as it appears in messages: strings in double quotes, shortened if long."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + '..."'


def cores_text(millis: int) -> str:
    return f"{millis / 1000:g}"


def bytes_text(amount: int) -> str:
    return format_quantity(amount, QuantityFormat.BINARY_SI)


def range_text(low: str, high: str) -> str:
    return low if low == high else f"{low}-{high}"


class _Parser:
    def __init__(self, annotations: Mapping[str, object], policy: TenantPolicy) -> None:
        self.annotations = annotations
        self.policy = policy
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def run(self) -> AnnotationResult:
        self._warn_unknown_keys()
        limits = self.policy.limits
        default_max = (
            DEFAULT_MAX_NODES if limits.vms is None else min(DEFAULT_MAX_NODES, limits.vms)
        )
        min_nodes = self._knob(MIN_NODES, _count, 0)
        max_nodes = self._knob(MAX_NODES, self._max_nodes, default_max)
        image = self._image()
        cpu = self._knob(CPU, self._cpu, _on_grid(self.policy.bounds.cpu))
        memory = self._knob(MEMORY, self._memory, _on_grid(self.policy.bounds.memory))
        unneeded = self._knob(SCALE_DOWN_UNNEEDED_TIME, _duration, 600.0)
        threshold = self._knob(SCALE_DOWN_UTILIZATION_THRESHOLD, _fraction, 0.5)
        expire_after = self._knob(EXPIRE_AFTER, _expiry, None)
        budget = self._knob(DISRUPTION_BUDGET, _budget, DisruptionBudget())
        enabled = self._knob(SCALE_DOWN_ENABLED, _boolean, True)
        weight = self._knob(WEIGHT, _weight, 0)

        if min_nodes is not None and max_nodes is not None and min_nodes > max_nodes:
            given = self.annotations.get(MAX_NODES)
            other = (
                f"{MAX_NODES} {show(given)}"
                if given is not None
                else f"the default {MAX_NODES} ({max_nodes})"
            )
            self.errors.append(
                f"{MIN_NODES}: {show(self.annotations.get(MIN_NODES))} is greater than {other}"
            )
        if cpu is not None and memory is not None:
            self._check_some_shape(cpu, memory)

        if (
            self.errors
            or min_nodes is None
            or max_nodes is None
            or image is None
            or cpu is None
            or memory is None
            or unneeded is None
            or threshold is None
            or budget is None
            or enabled is None
            or weight is None
        ):
            return AnnotationResult(None, tuple(self.errors), tuple(self.warnings))
        settings = PoolSettings(
            image=image,
            cpu=cpu,
            memory=memory,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            scale_down_unneeded_seconds=unneeded,
            scale_down_utilization_threshold=threshold,
            expire_after_seconds=expire_after,
            disruption_budget=budget,
            scale_down_enabled=enabled,
            weight=weight,
        )
        return AnnotationResult(settings, (), tuple(self.warnings))

    # Plumbing ------------------------------------------------------------------------------
    def _warn_unknown_keys(self) -> None:
        for key in self.annotations:
            if not isinstance(key, str) or not key.startswith(PREFIX):
                continue
            if key in KNOWN_ANNOTATIONS:
                continue
            knobs = [known.removeprefix(PREFIX) for known in KNOWN_ANNOTATIONS]
            close = difflib.get_close_matches(key.removeprefix(PREFIX), knobs, n=1, cutoff=0.6)
            hint = f"; did you mean {PREFIX}{close[0]}?" if close else ""
            self.warnings.append(f"{key} is not a known annotation and is ignored{hint}")

    def _raw(self, key: str) -> str | None:
        """The annotation's text, or None (with an error recorded) when it is not usable."""
        value = self.annotations[key]
        if not isinstance(value, str):
            self.errors.append(
                f"{key}: {show(value)} is not a string; annotation values must be quoted "
                f"(write {show(str(value).lower() if isinstance(value, bool) else str(value))})"
            )
            return None
        if len(value) > MAX_VALUE_LENGTH:
            self.errors.append(
                f"{key}: {show(value)} is too long ({len(value)} characters; "
                f"at most {MAX_VALUE_LENGTH})"
            )
            return None
        return value

    def _knob(self, key: str, parse: Callable[[str], T], default: T) -> T | None:
        """The parsed value, the default when absent, or None after recording an error."""
        if key not in self.annotations:
            return default
        raw = self._raw(key)
        if raw is None:
            return None
        try:
            return parse(raw.strip())
        except _Invalid as problem:
            self.errors.append(f"{key}: {show(raw)} {problem}")
            return None

    # Knobs that depend on the tenant -----------------------------------------------------
    def _max_nodes(self, text: str) -> int:
        value = _count(text)
        vms = self.policy.limits.vms
        if vms is not None and value > vms:
            raise _Invalid(f"is above the tenant's limit of {vms} VMs")
        return value

    def _image(self) -> str | None:
        allowed = self.policy.images
        listing = ", ".join(sorted(allowed))
        if IMAGE not in self.annotations:
            if len(allowed) == 1:
                return allowed[0]
            self.errors.append(
                f"{IMAGE}: missing; the tenant allows several images, choose one of: {listing}"
                if allowed
                else f"{IMAGE}: missing, and the tenant allows no image"
            )
            return None
        raw = self._raw(IMAGE)
        if raw is None:
            return None
        name = raw.strip()
        if name not in allowed:
            self.errors.append(
                f"{IMAGE}: {show(raw)} is not in the tenant's image allow-list "
                f"(allowed: {listing or 'none'})"
            )
            return None
        return name

    def _cpu(self, text: str) -> IntRange:
        match = _CORES.fullmatch(text)
        if match is None:
            raise _Invalid('is not whole cores; expected a count such as "4" or a range "2-16"')
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if low == 0:
            raise _Invalid("must be at least 1 core")
        if low > high:
            raise _Invalid(
                f'is an inverted range; write the smaller bound first, e.g. "{high}-{low}"'
            )
        tenant = self.policy.bounds.cpu
        allowed = range_text(cores_text(tenant.min), cores_text(tenant.max))
        if low * 1000 < tenant.min or high * 1000 > tenant.max:
            raise _Invalid(f"is outside the tenant's allowed cpu range {allowed}")
        result = tenant.intersect(IntRange(low * 1000, high * 1000))
        if result is None:
            raise _Invalid(
                f"contains no cpu count that the tenant allows ({allowed} in steps of "
                f"{cores_text(tenant.step)})"
            )
        return result

    def _memory(self, text: str) -> IntRange:
        if text.startswith("-"):
            raise _Invalid("is negative; expected a size such as 8Gi or a range 4Gi-64Gi")
        match = _SIZES.fullmatch(text)
        if match is None:
            raise _Invalid("is not a memory size; expected e.g. 8Gi or a range 4Gi-64Gi")
        try:
            low = int_value(match[1])
            high = int_value(match[2]) if match[2] is not None else low
        except QuantityError:
            raise _Invalid("is not a memory size; expected e.g. 8Gi or a range 4Gi-64Gi") from None
        if low <= 0:
            raise _Invalid("must be greater than zero; expected e.g. 8Gi or a range 4Gi-64Gi")
        if low > high:
            raise _Invalid(
                f'is an inverted range; write the smaller bound first, e.g. "{match[2]}-{match[1]}"'
            )
        tenant = self.policy.bounds.memory
        allowed = range_text(bytes_text(tenant.min), bytes_text(tenant.max))
        if low < tenant.min or high > tenant.max:
            raise _Invalid(f"is outside the tenant's allowed memory range {allowed}")
        result = tenant.intersect(IntRange(low, high))
        if result is None:
            raise _Invalid(
                f"contains no memory size that the tenant allows ({allowed} in steps of "
                f"{bytes_text(tenant.step)})"
            )
        return result

    def _check_some_shape(self, cpu: IntRange, memory: IntRange) -> None:
        bounds = self.policy.bounds
        if smallest_shape(cpu, memory, bounds) is not None:
            return
        parts = []
        for key, text in (
            (CPU, range_text(cores_text(cpu.min), cores_text(cpu.max))),
            (MEMORY, range_text(bytes_text(memory.min), bytes_text(memory.max))),
        ):
            raw = self.annotations.get(key)
            parts.append(f"{key} {show(raw)}" if raw is not None else f"{key} (default {text})")
        self.errors.append(
            f"{parts[0]} and {parts[1]}: no VM shape in these ranges has between "
            f"{bytes_text(bounds.memory_per_cpu_min)} and {bytes_text(bounds.memory_per_cpu_max)}"
            " of memory per cpu, as the tenant requires"
        )


def _on_grid(bounds: IntRange) -> IntRange:
    """The same values, with ``max`` moved down onto the grid."""
    top = bounds.round_down(bounds.max)
    return IntRange(bounds.min, bounds.min if top is None else top, bounds.step)


# Knobs that stand alone -------------------------------------------------------------------
def _count(text: str) -> int:
    if _NEGATIVE_COUNT.fullmatch(text):
        raise _Invalid("is negative; expected a count of 0 or more")
    if not _COUNT.fullmatch(text):
        raise _Invalid('is not a whole number; expected a count such as "3"')
    value = int(text)
    if value > MAX_POOL_NODES:
        raise _Invalid(f"is too large; expected a count from 0 to {MAX_POOL_NODES}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise _Invalid(f"{exc.reason}; expected e.g. 10m, 1h30m or 45s") from None


def _expiry(text: str) -> float | None:
    if text.lower() == "never":
        return None
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise _Invalid(f'{exc.reason}; expected a duration such as 168h, or "Never"') from None
    if seconds <= 0:
        raise _Invalid('must be longer than zero; use "Never" to keep nodes indefinitely')
    return seconds


def _fraction(text: str) -> float:
    if text.startswith("-"):
        raise _Invalid('is negative; expected a fraction from 0 to 1 such as "0.5"')
    if not _FRACTION.fullmatch(text) or len(text) > 20:
        raise _Invalid('is not a number; expected a fraction from 0 to 1 such as "0.5"')
    value = Decimal(text)
    if value > 1:
        raise _Invalid('is above 1; expected a fraction from 0 to 1 such as "0.5"')
    return float(value)


def _budget(text: str) -> DisruptionBudget:
    if text.startswith("-"):
        raise _Invalid('is negative; expected a node count such as "3" or a percentage "10%"')
    percent = _PERCENT.fullmatch(text)
    if percent is not None:
        value = int(percent[1])
        if value > 100:
            raise _Invalid('is above 100%; expected a percentage from "0%" to "100%"')
        return DisruptionBudget(BudgetKind.PERCENT, value)
    if not _COUNT.fullmatch(text):
        raise _Invalid('is not a node count or a percentage; expected e.g. "3" or "10%"')
    count = int(text)
    if count > MAX_POOL_NODES:
        raise _Invalid(f"is too large; at most {MAX_POOL_NODES} nodes")
    return DisruptionBudget(BudgetKind.COUNT, count)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise _Invalid('is not a boolean; expected "true" or "false"')
    return lowered == "true"


def _weight(text: str) -> int:
    if _NEGATIVE_COUNT.fullmatch(text):
        raise _Invalid(f"is negative; expected a whole number from 0 to {MAX_WEIGHT}")
    if not _COUNT.fullmatch(text):
        raise _Invalid(f"is not a whole number; expected 0 to {MAX_WEIGHT}")
    value = int(text)
    if value > MAX_WEIGHT:
        raise _Invalid(f"is above {MAX_WEIGHT}; expected 0 to {MAX_WEIGHT}")
    return value


def describe(settings: PoolSettings) -> Sequence[str]:
    """Human-readable lines of the effective settings (defaults included)."""
    budget = settings.disruption_budget
    expire = (
        "Never"
        if settings.expire_after_seconds is None
        else format_duration(settings.expire_after_seconds)
    )
    return (
        f"image: {settings.image}",
        f"nodes: {settings.min_nodes}-{settings.max_nodes}",
        f"cpu: {cores_text(settings.cpu.min)}-{cores_text(settings.cpu.max)} cores "
        f"in steps of {cores_text(settings.cpu.step)}",
        f"memory: {bytes_text(settings.memory.min)}-{bytes_text(settings.memory.max)} "
        f"in steps of {bytes_text(settings.memory.step)}",
        f"scale-down: {'enabled' if settings.scale_down_enabled else 'disabled'}, "
        f"after {format_duration(settings.scale_down_unneeded_seconds)} unneeded "
        f"below {settings.scale_down_utilization_threshold:g} utilization",
        f"expire-after: {expire}",
        f"disruption-budget: {budget.value}{'%' if budget.kind is BudgetKind.PERCENT else ''}",
        f"weight: {settings.weight}",
    )
