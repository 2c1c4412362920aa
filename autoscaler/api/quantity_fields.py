"""Pydantic field types for Kubernetes quantities in the CRD models: the text is checked with
apimachinery's parser and kept as given, and the CRD schema carries the API server's pattern."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

from autoscaler.api.quantity import QuantityError, parse_quantity

# The API server's own pattern for resource.Quantity in CRD schemas.
QUANTITY_PATTERN: Final = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _quantity_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a quantity (expected e.g. 4Gi, 500m or 2)")
    try:
        parse_quantity(value)
    except QuantityError as exc:
        raise ValueError(str(exc)) from None
    return value if isinstance(value, str) else str(value)


def _non_negative(text: str) -> str:
    if parse_quantity(text) < 0:
        raise ValueError(f"{text!r} must not be negative")
    return text


def _positive(text: str) -> str:
    if parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return text


_QUANTITY_SCHEMA: Final = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "pattern": QUANTITY_PATTERN,
    "x-kubernetes-int-or-string": True,
}

Quantity = Annotated[str, BeforeValidator(_quantity_text), WithJsonSchema(_QUANTITY_SCHEMA)]
"""A Kubernetes quantity, kept as its text; an integer or float on input becomes text."""
NonNegativeQuantity = Annotated[Quantity, AfterValidator(_non_negative)]
PositiveQuantity = Annotated[Quantity, AfterValidator(_positive)]
