"""Validation of label keys, label values and node selector requirements, as kube-scheduler
parses them before it matches anything.

kube-scheduler turns a required node affinity into selectors with apimachinery's
``labels.NewRequirement`` (and ``fields`` selectors for ``matchFields``); a term whose
requirements do not parse matches no node, while the other terms still may
(``component-helpers/scheduling/corev1/nodeaffinity``). The rules here are those of
``apimachinery/pkg/util/validation`` (qualified names, label values) and
``pkg/labels/selector.go`` (operators and their values); label keys and values are checked by
``autoscaler.api.naming``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from autoscaler.api.naming import label_key_error, label_value_error
from autoscaler.core.model import NodeSelectorTerm, Requirement

_INT64 = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

NODE_NAME_FIELD = "metadata.name"


def parse_int64(text: str) -> int | None:
    """``strconv.ParseInt(text, 10, 64)``: an optional sign and ASCII digits within int64."""
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def requirement_error(requirement: Requirement) -> str | None:
    """Why a ``matchExpressions`` requirement does not parse as a label selector, or None."""
    error = label_key_error(requirement.key)
    if error:
        return error
    op, values = requirement.operator, requirement.values
    if op in ("In", "NotIn"):
        if not values:
            return f"{op} on {requirement.key!r} has no values"
    elif op in ("Exists", "DoesNotExist"):
        if values:
            return f"{op} on {requirement.key!r} must have no values"
    elif op in ("Gt", "Lt"):
        if len(values) != 1:
            return f"{op} on {requirement.key!r} needs exactly one value"
        if parse_int64(values[0]) is None:
            return f"{op} on {requirement.key!r}: {values[0]!r} is not an integer"
    else:
        return f"operator {op!r} is not supported"
    for value in values:
        error = label_value_error(value)
        if error:
            return error
    return None


def field_requirement_error(requirement: Requirement) -> str | None:
    """Why a ``matchFields`` requirement does not parse as a field selector, or None."""
    if requirement.operator not in ("In", "NotIn"):
        return f"operator {requirement.operator!r} is not supported in matchFields"
    if len(requirement.values) != 1:
        return f"matchFields {requirement.operator} on {requirement.key!r} needs exactly one value"
    return None


@lru_cache(maxsize=4096)
def term_error(term: NodeSelectorTerm) -> str | None:
    """Why a node selector term cannot match any node, when the reason is that it does not
    parse; None for a valid term (empty terms are valid and match nothing)."""
    for index, requirement in enumerate(term.match_expressions):
        error = requirement_error(requirement)
        if error:
            return f"matchExpressions[{index}]: {error}"
    for index, requirement in enumerate(term.match_fields):
        error = field_requirement_error(requirement)
        if error:
            return f"matchFields[{index}]: {error}"
    return None
