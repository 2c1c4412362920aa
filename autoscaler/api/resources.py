"""An immutable vector of resource amounts, in the integer units the scheduler uses.

``cpu`` is counted in millicores; every other resource (memory, ephemeral-storage, pods,
hugepages, extended resources such as ``nvidia.com/gpu``) in its base unit, rounded up.
A resource absent from the vector is zero.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Final

from autoscaler.api.quantity import (
    QuantityFormat,
    format_quantity,
    int_value,
    milli_value,
    scaled_value,
)

CPU: Final = "cpu"
MEMORY: Final = "memory"
PODS: Final = "pods"
EPHEMERAL_STORAGE: Final = "ephemeral-storage"

_BYTE_RESOURCES = (MEMORY, EPHEMERAL_STORAGE)


_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def to_units(name: str, quantity: str | int | float) -> int:
    """Convert one quantity to the integer units of resource ``name``."""
    return milli_value(quantity) if name == CPU else int_value(quantity)


def units_of(name: str, value: Decimal) -> int:
    """The integer units of an exact amount of resource ``name`` (rounded away from zero)."""
    return scaled_value(value, -3 if name == CPU else 0)


def counted_by_scheduler(name: str) -> bool:
    """Whether kube-scheduler's NodeResourcesFit counts a request for ``name``: cpu, memory,
    ephemeral-storage and the scalar resources (hugepages, attachable volumes, names in a
    ``kubernetes.io/`` namespace, extended resources). Any other name, and ``pods``, which
    a pod takes one of whatever it asks, is ignored (``framework.Resource.Add``)."""
    if name in (CPU, MEMORY, EPHEMERAL_STORAGE):
        return True
    if name.startswith(("hugepages-", "attachable-volumes-")) or "kubernetes.io/" in name:
        return True
    return "/" in name and _is_extended(name)


def _is_extended(name: str) -> bool:
    """``IsExtendedResourceName``: outside the native namespace, and ``requests.<name>`` is a
    qualified name (``[DNS-subdomain/]name``)."""
    if name.startswith("requests."):
        return False
    parts = f"requests.{name}".split("/")
    if len(parts) != 2:
        return False
    prefix, short = parts
    return (
        len(prefix) <= 253
        and _DNS_SUBDOMAIN.fullmatch(prefix) is not None
        and len(short) <= 63
        and _QUALIFIED_NAME.fullmatch(short) is not None
    )


def to_quantity(name: str, units: int) -> str:
    """The canonical quantity text of ``units`` of resource ``name``."""
    if name == CPU:
        return format_quantity(Decimal(units).scaleb(-3))
    if _is_bytes(name):
        return format_quantity(units, QuantityFormat.BINARY_SI)
    return format_quantity(units)


class Resources(Mapping[str, int]):
    """Hashable, immutable resource vector with element-wise arithmetic."""

    __slots__ = ("_amounts", "_hash")

    def __init__(self, amounts: Mapping[str, int] | Iterable[tuple[str, int]] = ()) -> None:
        items = amounts.items() if isinstance(amounts, Mapping) else amounts
        self._amounts: dict[str, int] = {k: int(v) for k, v in items if v}
        self._hash: int | None = None

    @classmethod
    def of(
        cls, cpu: int = 0, memory: int = 0, pods: int = 0, other: Mapping[str, int] | None = None
    ) -> Resources:
        """Build from millicores, bytes, a pod count and any other named amounts."""
        return cls({CPU: cpu, MEMORY: memory, PODS: pods, **(other or {})})

    @classmethod
    def parse(cls, quantities: Mapping[str, str | int | float] | None) -> Resources:
        """Parse a Kubernetes ``requests``/``allocatable`` map; raise QuantityError if bad."""
        if not quantities:
            return EMPTY
        return cls({name: to_units(name, q) for name, q in quantities.items()})

    def to_kubernetes(self) -> dict[str, str]:
        return {name: to_quantity(name, units) for name, units in sorted(self._amounts.items())}

    # Mapping protocol -------------------------------------------------------------------
    def __getitem__(self, key: str) -> int:
        return self._amounts.get(key, 0)

    def __iter__(self) -> Iterator[str]:
        return iter(self._amounts)

    def __len__(self) -> int:
        return len(self._amounts)

    def __contains__(self, key: object) -> bool:
        return key in self._amounts

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Resources):
            return self._amounts == other._amounts
        return NotImplemented

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._amounts.items()))
        return self._hash

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self._amounts.items()))
        return f"Resources({inner})"

    # Arithmetic ---------------------------------------------------------------------------
    @property
    def cpu(self) -> int:
        return self._amounts.get(CPU, 0)

    @property
    def memory(self) -> int:
        return self._amounts.get(MEMORY, 0)

    @property
    def pods(self) -> int:
        return self._amounts.get(PODS, 0)

    def __add__(self, other: Mapping[str, int]) -> Resources:
        result = dict(self._amounts)
        for k, v in other.items():
            result[k] = result.get(k, 0) + v
        return Resources(result)

    def __sub__(self, other: Mapping[str, int]) -> Resources:
        result = dict(self._amounts)
        for k, v in other.items():
            result[k] = result.get(k, 0) - v
        return Resources(result)

    def __mul__(self, factor: int) -> Resources:
        return Resources({k: v * factor for k, v in self._amounts.items()})

    __rmul__ = __mul__

    def fits_in(self, capacity: Mapping[str, int]) -> bool:
        """Whether every amount here is at most the same amount in ``capacity``."""
        get = capacity.get
        return all(v <= get(k, 0) for k, v in self._amounts.items())

    def exceeding(self, capacity: Mapping[str, int]) -> list[str]:
        """Names of the resources where this vector exceeds ``capacity``, sorted."""
        get = capacity.get
        return sorted(k for k, v in self._amounts.items() if v > get(k, 0))

    def max(self, other: Mapping[str, int]) -> Resources:
        keys = set(self._amounts) | set(other)
        return Resources({k: max(self[k], other.get(k, 0)) for k in keys})

    def clamp_negative(self) -> Resources:
        return Resources({k: v for k, v in self._amounts.items() if v > 0})

    def is_negative(self) -> bool:
        return any(v < 0 for v in self._amounts.values())

    def how_many_fit(self, capacity: Mapping[str, int]) -> int:
        """How many copies of this vector fit in ``capacity`` (large if it asks for nothing)."""
        count: int | None = None
        get = capacity.get
        for k, v in self._amounts.items():
            if v <= 0:
                continue
            n = get(k, 0) // v
            if count is None or n < count:
                count = n
                if count <= 0:
                    return 0
        return count if count is not None else 1 << 30

    def __str__(self) -> str:
        """Readable text for messages: exact quantities, or bytes rounded to 0.1 of a unit."""
        parts = []
        for name, units in sorted(self._amounts.items()):
            text = to_quantity(name, units)
            if text.isdigit() and _is_bytes(name) and units >= 1024:
                text = _approximate_bytes(units)
            parts.append(f"{name}={text}")
        return ", ".join(parts) or "nothing"


def _is_bytes(name: str) -> bool:
    return name in _BYTE_RESOURCES or name.startswith("hugepages-")


def _approximate_bytes(units: int) -> str:
    for suffix, shift in (("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)):
        if units >= 1 << shift:
            return f"~{units / (1 << shift):.1f}{suffix}"
    return str(units)


EMPTY: Final = Resources()
