"""Structural OpenAPI v3 schema checks, as the API server applies them to custom resources.

``validate`` lists every problem (unknown fields, types, required fields, enums, patterns,
bounds, nulls); ``unknown_fields`` lists only what ``fieldValidation=Strict`` rejects; and
``prune`` drops what a real API server silently drops without Strict (unknown fields and
nulls in fields that are not nullable); ``apply_defaults`` then fills in schema defaults. They
only walk the object, so the size of the schema (KubeVirt's is 700 KB) does not matter.

Paths look like ``spec.template.spec.volumes[0].cloudInitNoCloud`` (map entries as
``labels[app]``). At the top of a resource, and of an ``x-kubernetes-embedded-resource``,
``apiVersion``, ``kind`` and ``metadata`` are always allowed and ``metadata`` is left to the
server's own ObjectMeta checks, as a real API server does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

Schema = Mapping[str, Any]

__all__ = ["Schema", "apply_defaults", "prune", "unknown_fields", "validate"]

_RESOURCE_FIELDS = frozenset({"apiVersion", "kind", "metadata"})
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_INT_OR_STRING = "x-kubernetes-int-or-string"
_EMBEDDED = "x-kubernetes-embedded-resource"


def validate(obj: Any, schema: Schema, *, resource_root: bool = True) -> list[str]:
    """Every way in which ``obj`` breaks ``schema``, one message per problem, each naming its path.

    ``resource_root`` treats ``obj`` as a whole resource (see the module docstring); pass
    ``False`` to check a fragment against a sub-schema.
    """
    walker = _Walker(check_unknown=True)
    walker.check(obj, schema, "", resource_root)
    return walker.errors


def unknown_fields(obj: Any, schema: Schema, *, resource_root: bool = True) -> list[str]:
    """The paths of the fields that ``schema`` does not declare (what Strict rejects)."""
    walker = _Walker(check_unknown=True, only_unknown=True)
    walker.check(obj, schema, "", resource_root)
    return walker.unknown


def prune(obj: Any, schema: Schema, *, resource_root: bool = True) -> Any:
    """A copy of ``obj`` without unknown fields and without nulls where null is not allowed."""
    return _prune(copy.deepcopy(obj), schema, resource_root)


def apply_defaults(obj: Any, schema: Schema) -> Any:
    """Fill in the ``default`` of every missing property (and of nulls where null is not
    allowed), top-down, as the API server does after pruning. Modifies and returns ``obj``."""
    if isinstance(obj, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for name, sub in properties.items():
            if "default" in sub and (
                name not in obj or (obj[name] is None and sub.get("nullable") is not True)
            ):
                obj[name] = copy.deepcopy(sub["default"])
        for name, item in obj.items():
            sub = properties.get(name)
            if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
                sub = schema["additionalProperties"]
            if sub is not None:
                apply_defaults(item, sub)
    elif isinstance(obj, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for item in obj:
                apply_defaults(item, items)
    return obj


# --------------------------------------------------------------------------------------


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _shown(path: str) -> str:
    return path or "<root>"


def _declares_fields(schema: Schema) -> bool:
    """Whether the schema fixes the set of fields of an object value."""
    if schema.get(_PRESERVE) is True or "additionalProperties" in schema:
        return False
    return "properties" in schema or schema.get("type") == "object"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a Go-only construct: the check is skipped rather than guessed


def _type_error(value: Any, schema: Schema) -> str | None:
    if schema.get(_INT_OR_STRING) is True:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return None
        return "must be an integer or a string"
    expected = schema.get("type")
    if expected is None:
        return None
    ok: bool
    if expected == "object":
        ok = isinstance(value, dict)
    elif expected == "array":
        ok = isinstance(value, list)
    elif expected == "string":
        ok = isinstance(value, str)
    elif expected == "boolean":
        ok = isinstance(value, bool)
    elif expected == "integer":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    elif expected == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        return None
    return None if ok else f"must be of type {expected}, got {_json_type(value)}"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class _Walker:
    def __init__(self, *, check_unknown: bool, only_unknown: bool = False) -> None:
        self.check_unknown = check_unknown
        self.only_unknown = only_unknown
        self.errors: list[str] = []
        self.unknown: list[str] = []

    def error(self, path: str, message: str) -> None:
        if not self.only_unknown:
            self.errors.append(f"{_shown(path)}: {message}")

    def check(self, value: Any, schema: Schema, path: str, resource: bool) -> None:
        if value is None:
            if schema.get("nullable") is not True:
                self.error(path, "must not be null (the field is not nullable)")
            return
        problem = _type_error(value, schema)
        if problem is not None:
            self.error(path, problem)
            return
        if not self.only_unknown:
            self.check_value(value, schema, path)
        if isinstance(value, dict):
            self.check_object(value, schema, path, resource or schema.get(_EMBEDDED) is True)
        elif isinstance(value, list):
            items = schema.get("items")
            if isinstance(items, Mapping):
                for index, item in enumerate(value):
                    self.check(item, items, f"{path}[{index}]", False)

    def check_object(
        self, value: dict[str, Any], schema: Schema, path: str, resource: bool
    ) -> None:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        fixed = self.check_unknown and _declares_fields(schema)
        for name, item in value.items():
            child = _join(path, name)
            if resource and name in _RESOURCE_FIELDS:
                if name == "metadata":
                    if not isinstance(item, dict):
                        self.error(child, f"must be of type object, got {_json_type(item)}")
                    continue
                if name in properties:
                    self.check(item, properties[name], child, False)
                elif not isinstance(item, str):
                    self.error(child, f"must be of type string, got {_json_type(item)}")
                continue
            sub = properties.get(name)
            if sub is not None:
                self.check(item, sub, child, False)
                continue
            extra = schema.get("additionalProperties")
            if isinstance(extra, Mapping):
                self.check(item, extra, f"{path}[{name}]", False)
            elif fixed:
                self.unknown.append(child)
                self.error(child, "unknown field (not declared in the schema)")
        if not self.only_unknown:
            for name in schema.get("required") or ():
                if name not in value:
                    self.error(_join(path, name), "required field is missing")

    def check_value(self, value: Any, schema: Schema, path: str) -> None:
        """Value validations that do not depend on the walk: enum, formats of strings, bounds."""
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            allowed = ", ".join(repr(item) for item in enum)
            self.error(path, f"unsupported value {value!r}: supported values: {allowed}")
        if isinstance(value, str):
            self.check_string(value, schema, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.check_number(value, schema, path)
        elif isinstance(value, list):
            self.check_bounds(len(value), schema, "minItems", "maxItems", "items", path)
        elif isinstance(value, dict):
            self.check_bounds(len(value), schema, "minProperties", "maxProperties", "fields", path)
        self.check_junctors(value, schema, path)

    def check_string(self, value: str, schema: Schema, path: str) -> None:
        self.check_bounds(len(value), schema, "minLength", "maxLength", "characters", path)
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            compiled = _compiled(pattern)
            if compiled is not None and compiled.search(value) is None:
                self.error(path, f"{value!r} does not match the pattern {pattern!r}")

    def check_number(self, value: float, schema: Schema, path: str) -> None:
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int | float):
            exclusive = schema.get("exclusiveMinimum") is True
            if value < low or (exclusive and value == low):
                self.error(path, f"must be {'greater than' if exclusive else 'at least'} {low}")
        if isinstance(high, int | float):
            exclusive = schema.get("exclusiveMaximum") is True
            if value > high or (exclusive and value == high):
                self.error(path, f"must be {'less than' if exclusive else 'at most'} {high}")

    def check_bounds(
        self, size: int, schema: Schema, low_key: str, high_key: str, unit: str, path: str
    ) -> None:
        low, high = schema.get(low_key), schema.get(high_key)
        if isinstance(low, int) and size < low:
            self.error(path, f"must have at least {low} {unit}, has {size}")
        if isinstance(high, int) and size > high:
            self.error(path, f"must have at most {high} {unit}, has {size}")

    def check_junctors(self, value: Any, schema: Schema, path: str) -> None:
        """allOf/anyOf/oneOf/not only add value validations in a structural schema."""
        for branch in schema.get("allOf") or ():
            for problem in _branch_errors(value, branch, path):
                self.errors.append(problem)
        any_of = schema.get("anyOf")
        if (
            any_of
            and schema.get(_INT_OR_STRING) is not True
            and all(_branch_errors(value, branch, path) for branch in any_of)
        ):
            self.error(path, "must match at least one of the schemas in anyOf")
        one_of = schema.get("oneOf")
        if one_of:
            matched = sum(1 for branch in one_of if not _branch_errors(value, branch, path))
            if matched != 1:
                self.error(
                    path, f"must match exactly one of the schemas in oneOf, matches {matched}"
                )
        negated = schema.get("not")
        if isinstance(negated, Mapping) and not _branch_errors(value, negated, path):
            self.error(path, "must not match the schema in not")


def _branch_errors(value: Any, branch: Schema, path: str) -> list[str]:
    walker = _Walker(check_unknown=False)
    walker.check(value, branch, path, False)
    return walker.errors


def _prune(value: Any, schema: Schema, resource: bool) -> Any:
    if isinstance(value, dict):
        resource = resource or schema.get(_EMBEDDED) is True
        properties: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        fixed = _declares_fields(schema)
        for name in list(value):
            item = value[name]
            if resource and name in _RESOURCE_FIELDS and name not in properties:
                continue
            if resource and name == "metadata":
                continue
            sub = properties.get(name)
            if sub is None and isinstance(extra, Mapping):
                sub = extra
            if sub is None:
                if fixed:
                    del value[name]
                continue
            if item is None and sub.get("nullable") is not True:
                del value[name]
                continue
            value[name] = _prune(item, sub, False)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            return [_prune(item, items, False) for item in value]
    return value
