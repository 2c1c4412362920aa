"""Label selectors (query string and ``metav1.LabelSelector``) and field selectors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """A selector that does not parse; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # =, !=, in, notin, exists, !, gt, lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if op in ("=", "in"):
            return value is not None and value in self.values
        if op in ("!=", "notin"):
            return value is None or value not in self.values
        if value is None:
            return False
        try:
            number, bound = int(value), int(next(iter(self.values)))
        except ValueError:
            return False
        return number > bound if op == "gt" else number < bound


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """All requirements must hold; no requirement matches everything, ``nothing`` matches none."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(requirement.matches(labels) for requirement in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\((.*)\)\s*$")
_COMPARE_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=|>|<)\s*({_VALUE})\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


def _split_top_level(text: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_label_selector(text: str) -> LabelSelector:
    """Parse ``a=b,c!=d,e in (x,y),f notin (z),g,!h`` (also ``==``, ``>`` and ``<``)."""
    if not text.strip():
        return EVERYTHING
    requirements = [_parse_requirement(part) for part in _split_top_level(text)]
    return LabelSelector(tuple(requirements))


def _parse_requirement(part: str) -> Requirement:
    if match := _SET_RE.match(part):
        key, op, listed = match.groups()
        values = [value.strip() for value in listed.split(",")]
        bad = [value for value in values if not _VALUE_RE.match(value)]
        if bad or not values:
            raise SelectorError(f"unable to parse requirement {part.strip()!r}: invalid values")
        return Requirement(key, op, frozenset(values))
    if match := _COMPARE_RE.match(part):
        key, op, value = match.groups()
        if op in (">", "<"):
            if not value.lstrip("-").isdigit():
                raise SelectorError(
                    f"unable to parse requirement {part.strip()!r}: {op} needs an integer value"
                )
            return Requirement(key, "gt" if op == ">" else "lt", frozenset({value}))
        return Requirement(key, "!=" if op == "!=" else "=", frozenset({value}))
    if match := _EXISTS_RE.match(part):
        negated, key = match.groups()
        return Requirement(key, "!" if negated else "exists")
    raise SelectorError(f"unable to parse requirement {part.strip()!r}: found unexpected syntax")


_EXPRESSION_OPERATORS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector(selector: Mapping[str, Any] | None) -> LabelSelector:
    """A ``metav1.LabelSelector``: None selects nothing, an empty one selects everything."""
    if selector is None:
        return NOTHING
    if not isinstance(selector, Mapping):
        raise SelectorError("selector must be an object")
    requirements: list[Requirement] = []
    match_labels = selector.get("matchLabels") or {}
    if not isinstance(match_labels, Mapping):
        raise SelectorError("selector.matchLabels must be an object")
    for key, value in match_labels.items():
        requirements.append(Requirement(str(key), "=", frozenset({str(value)})))
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise SelectorError("selector.matchExpressions must be a list")
    for index, expression in enumerate(expressions):
        where = f"selector.matchExpressions[{index}]"
        if not isinstance(expression, Mapping):
            raise SelectorError(f"{where} must be an object")
        operator = _EXPRESSION_OPERATORS.get(str(expression.get("operator")))
        if operator is None:
            raise SelectorError(f"{where}.operator: {expression.get('operator')!r} is not valid")
        values = expression.get("values") or []
        if operator in ("in", "notin") and not values:
            raise SelectorError(f"{where}.values: must be non-empty for In and NotIn")
        requirements.append(
            Requirement(str(expression.get("key")), operator, frozenset(map(str, values)))
        )
    return LabelSelector(tuple(requirements))


@dataclass(frozen=True, slots=True)
class FieldRequirement:
    field: str
    index: int  # position of the field in the resource's field labels
    value: str
    equal: bool


def parse_field_selector(text: str, supported: Sequence[str]) -> tuple[FieldRequirement, ...]:
    """Parse ``f=v,g!=w`` and check each field against the resource's supported field labels."""
    if not text.strip():
        return ()
    result: list[FieldRequirement] = []
    for part in text.split(","):
        for op in ("!=", "==", "="):
            field, found, value = part.partition(op)
            if found:
                break
        else:
            raise SelectorError(f"invalid field selector {part!r}: expected field=value")
        field = field.strip()
        if field not in supported:
            raise SelectorError(f'field label not supported: "{field}"')
        result.append(FieldRequirement(field, supported.index(field), value.strip(), op != "!="))
    return tuple(result)


def fields_match(requirements: Sequence[FieldRequirement], values: Sequence[str]) -> bool:
    for requirement in requirements:
        if (values[requirement.index] == requirement.value) != requirement.equal:
            return False
    return True
