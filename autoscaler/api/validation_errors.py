"""Readable lines for pydantic validation errors: one per problem, with its path, what is wrong
and the value that was given. The CRD models, the scenario files and the controller's settings
all report their errors through :func:`describe_errors`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError


def describe_errors(
    exc: ValidationError,
    model: type[BaseModel] | None = None,
    *,
    pattern_meanings: Mapping[str, str] | None = None,
    unknown: str = "unknown field",
    top_level: str = "",
    path_note: Callable[[tuple[int | str, ...]], str] | None = None,
) -> list[str]:
    """One line per error: ``path: message (got value)``.

    ``model``, when given, is the validated model: an unknown field then lists the fields its
    place accepts. ``pattern_meanings`` turns a regular expression the value failed into words.
    ``unknown`` names an unknown field ("unknown setting"); ``top_level`` names the path of an
    error about the whole object (by default such a line has no path); ``path_note`` adds a
    note in brackets after a path, such as where a setting came from.
    """
    meanings = pattern_meanings or {}
    lines = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = unknown
            allowed = allowed_fields(model, loc[:-1]) if model is not None else []
            if allowed:
                message += f"; allowed fields: {', '.join(allowed)}"
        elif error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "string_pattern_mismatch":
            message = meanings.get(error.get("ctx", {}).get("pattern", ""), message)
        value = error.get("input")
        shown = short_repr(value)
        if isinstance(value, Mapping | list) or error["type"] == "missing" or shown in message:
            suffix = ""
        else:
            suffix = f" (got {shown})"
        path = error_path(loc) or top_level
        note = path_note(loc) if path_note is not None else ""
        if note:
            path = f"{path} ({note})"
        lines.append(f"{path}: {message}{suffix}" if path else f"{message}{suffix}")
    return lines


def error_path(loc: tuple[int | str, ...]) -> str:
    """``spec.images[0].name`` for the location ``("spec", "images", 0, "name")``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds, looking into unions and containers."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for argument in get_args(annotation):
        found.extend(_models_in(argument))
    return found


def allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names the model at ``loc`` under ``model`` accepts (empty when it cannot be
    told)."""
    candidates: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        for candidate in candidates:
            field = next(
                (f for name, f in candidate.model_fields.items() if part in (name, f.alias)), None
            )
            if field is not None:
                candidates = _models_in(field.annotation)
                break
        else:
            return []
    if not candidates:
        return []
    return sorted(f.alias or name for name, f in candidates[0].model_fields.items())
