"""API errors as the real server reports them: an HTTP code and a ``metav1.Status`` body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JsonObject = dict[str, Any]


class ApiError(Exception):
    """A request that fails with ``code``; ``status()`` is the body a real API server sends."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def status(self) -> JsonObject:
        body: JsonObject = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def success_status(code: int = 200, details: Mapping[str, Any] | None = None) -> JsonObject:
    body: JsonObject = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "code": code,
    }
    if details:
        body["details"] = dict(details)
    return body


def _details(qualified: str, name: str, kind: str = "") -> JsonObject:
    plural, _, group = qualified.partition(".")
    details: JsonObject = {"name": name, "kind": kind or plural}
    if group:
        details["group"] = group
    return details


def not_found(qualified: str, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{qualified} "{name}" not found', details=_details(qualified, name)
    )


def already_exists(qualified: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified} "{name}" already exists',
        details=_details(qualified, name),
    )


def conflict(qualified: str, name: str, why: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": {why}',
        details=_details(qualified, name),
    )


def stale(qualified: str, name: str) -> ApiError:
    return conflict(
        qualified,
        name,
        "the object has been modified; please apply your changes to the latest version and "
        "try again",
    )


def invalid(kind_group: str, name: str, causes: Sequence[tuple[str, str]]) -> ApiError:
    """422 with one cause per ``(field path, message)``, like field.ErrorList.ToAggregate()."""
    listed = ", ".join(f"{path}: {message}" for path, message in causes)
    summary = listed if len(causes) == 1 else f"[{listed}]"
    kind, _, group = kind_group.partition(".")
    details: JsonObject = {
        "name": name,
        "kind": kind,
        "causes": [
            {"reason": "FieldValueInvalid", "message": message, "field": path}
            for path, message in causes
        ],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", f'{kind_group} "{name}" is invalid: {summary}', details=details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
