"""Typed, cautious reading of raw Kubernetes JSON: the reader every converter uses.

A field that cannot be read raises :class:`ConversionError` naming the object and the field
path; converters catch it with :func:`guarded`, fall back to the field's most cautious reading
and note the path in the object's ``unmodelled``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from autoscaler.api.quantity import QuantityError, parse_json
from autoscaler.api.resources import EMPTY, Resources, counted_by_scheduler, units_of


class ConversionError(ValueError):
    """A Kubernetes object that cannot be converted; names the object and the field."""

    def __init__(self, kind: str, name: str, field: str, problem: str) -> None:
        super().__init__(f"{kind} {name}: {field}: {problem}")
        self.kind = kind
        self.name = name
        self.field = field
        self.problem = problem


def object_name(obj: Any) -> str:
    """``namespace/name`` (or ``name`` when cluster-scoped) of a raw object, for messages."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return "<no metadata>"
    name = meta.get("name")
    namespace = meta.get("namespace")
    name_text = name if isinstance(name, str) and name else "<unnamed>"
    return f"{namespace}/{name_text}" if isinstance(namespace, str) and namespace else name_text


class Reader:
    """Typed access to one raw object's fields; errors name the object and the field path."""

    __slots__ = ("kind", "name", "notes", "prefix")

    def __init__(self, kind: str, obj: Any) -> None:
        self.kind = kind
        self.name = object_name(obj)
        self.prefix = ""  # where the fields being read sit inside the object
        self.notes: list[str] = []  # "path: problem" of every field that could not be read
        if not isinstance(obj, dict):
            raise ConversionError(kind, self.name, "<root>", f"expected an object, got {obj!r:.60}")

    def error(self, path: str, problem: str) -> ConversionError:
        return ConversionError(self.kind, self.name, self.prefix + path, problem)

    def note(self, error: ConversionError) -> None:
        """Record a field that could not be read; the caller goes on with a cautious value."""
        text = f"{error.field}: {error.problem}"
        self.notes.append(text if len(text) <= 160 else text[:157] + "...")

    def unmodelled(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.notes))

    def mapping(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
        value = obj.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(path, f"expected an object, got {type_name(value)}")
        return value

    def items(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(path, f"expected a list, got {type_name(value)}")
        return value

    def objects(self, obj: Mapping[str, Any], key: str, path: str) -> Iterable[tuple[str, Any]]:
        for index, item in enumerate(self.items(obj, key, path)):
            item_path = f"{path}[{index}]"
            if not isinstance(item, dict):
                raise self.error(item_path, f"expected an object, got {type_name(item)}")
            yield item_path, item

    def each(self, obj: Mapping[str, Any], key: str, path: str) -> Iterable[tuple[str, Any]]:
        """Like :meth:`objects`, but an item (or a list) that is not an object is noted and
        skipped instead of failing the whole list."""
        try:
            items = self.items(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            if isinstance(item, dict):
                yield item_path, item
            else:
                self.note(self.error(item_path, f"expected an object, got {type_name(item)}"))

    def string(self, obj: Mapping[str, Any], key: str, path: str, default: str = "") -> str:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.error(path, f"expected a string, got {type_name(value)}")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, path: str, default: int = 0) -> int:
        value = obj.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(path, f"expected an integer, got {type_name(value)}")
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        value = obj.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(path, f"expected true or false, got {type_name(value)}")
        return value

    def string_map(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """A map of strings; an entry whose value is not a string is noted and left out."""
        try:
            raw = self.mapping(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return {}
        result = {}
        for k, v in raw.items():
            if isinstance(v, str):
                result[sys.intern(k)] = sys.intern(v)
            else:
                self.note(self.error(f"{path}.{k}", f"expected a string, got {type_name(v)}"))
        return result

    def amounts(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, Decimal]:
        """A resource list as exact amounts; a quantity that does not parse is noted and left
        out (the rest still counts)."""
        try:
            raw = self.mapping(obj, key, path)
        except ConversionError as exc:
            self.note(exc)
            return {}
        amounts = {}
        for name, quantity in raw.items():
            if isinstance(quantity, bool) or not isinstance(quantity, str | int | float):
                self.note(self.error(f"{path}.{name}", f"{quantity!r:.40} is not a quantity"))
                continue
            try:
                amounts[sys.intern(name)] = cached_amount(quantity)
            except QuantityError as exc:
                self.note(self.error(f"{path}.{name}", str(exc)))
        return amounts

    def resources(self, obj: Mapping[str, Any], key: str, path: str) -> Resources:
        amounts = self.amounts(obj, key, path)
        if not amounts:
            return EMPTY
        return Resources({name: cached_units(name, value) for name, value in amounts.items()})

    def timestamp(self, obj: Mapping[str, Any], key: str, path: str) -> float | None:
        value = self.string(obj, key, path)
        if not value:
            return None
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            raise self.error(path, f"{value!r} is not an RFC 3339 time") from None


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _parse_amount(quantity: str | int | float) -> Decimal:
    return parse_json(quantity).value


# Pods repeat the same few quantities ("100m", "1Gi"); parsing each once saves most of the cost.
cached_amount = functools.lru_cache(maxsize=8192)(_parse_amount)
cached_units = functools.lru_cache(maxsize=8192)(units_of)
cached_counted = functools.lru_cache(maxsize=1024)(counted_by_scheduler)


def guarded(r: Reader, fallback: Any, read: Any, *args: Any) -> Any:
    """``read(r, *args)``, or ``fallback`` with the problem noted when a field is unreadable."""
    try:
        return read(r, *args)
    except ConversionError as exc:
        r.note(exc)
        return fallback
