"""Classify Kubernetes API failures, and report them to whoever counts them (the metrics).

Every call into an API server can fail with an ``ApiException`` (an HTTP status), an aiohttp
error (connection refused, reset, payload cut short) or a timeout. Callers branch on the
:class:`ErrorKind` and report failures through :func:`report_api_error`, which feeds the hooks
registered with :func:`add_api_error_hook` (the ``api_errors_total`` metric, for one).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)


class ErrorKind(StrEnum):
    NOT_FOUND = "NotFound"
    CONFLICT = "Conflict"  # 409: stale resourceVersion, or already exists
    GONE = "Gone"  # 410: resourceVersion too old, re-list
    TOO_MANY_REQUESTS = "TooManyRequests"  # 429: throttled, or an eviction a PDB blocks
    UNAVAILABLE = "Unavailable"  # 5xx, connection errors, timeouts: retry later
    UNAUTHORIZED = "Unauthorized"  # 401/403: credentials or RBAC
    INVALID = "Invalid"  # 400/422: the request itself is wrong, retrying will not help
    OTHER = "Other"


_BY_STATUS = {
    404: ErrorKind.NOT_FOUND,
    409: ErrorKind.CONFLICT,
    410: ErrorKind.GONE,
    429: ErrorKind.TOO_MANY_REQUESTS,
    401: ErrorKind.UNAUTHORIZED,
    403: ErrorKind.UNAUTHORIZED,
    400: ErrorKind.INVALID,
    422: ErrorKind.INVALID,
}

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    ConnectionError,
)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error, or None for transport errors."""
    if isinstance(exc, ApiException):
        status = exc.status
        return status if isinstance(status, int) else None
    if isinstance(exc, aiohttp.ClientResponseError):
        return exc.status
    return None


def classify(exc: BaseException) -> ErrorKind:
    status = status_of(exc)
    if status is not None:
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500 or status == 0:
            return ErrorKind.UNAVAILABLE
        return ErrorKind.OTHER
    if isinstance(exc, TRANSPORT_ERRORS):
        return ErrorKind.UNAVAILABLE
    return ErrorKind.OTHER


def is_not_found(exc: BaseException) -> bool:
    return classify(exc) is ErrorKind.NOT_FOUND


def is_conflict(exc: BaseException) -> bool:
    return classify(exc) is ErrorKind.CONFLICT


def is_gone(exc: BaseException) -> bool:
    return classify(exc) is ErrorKind.GONE


def is_too_many_requests(exc: BaseException) -> bool:
    return classify(exc) is ErrorKind.TOO_MANY_REQUESTS


def is_retryable(exc: BaseException) -> bool:
    """Whether the same request may succeed later (throttling, server or network trouble)."""
    return classify(exc) in (ErrorKind.TOO_MANY_REQUESTS, ErrorKind.UNAVAILABLE)


def is_api_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of an API call (as opposed to a bug in our code)."""
    return isinstance(exc, (ApiException, aiohttp.ClientResponseError, *TRANSPORT_ERRORS))


def code_label(exc: BaseException) -> str:
    """A short, bounded label for metrics: the HTTP status, or the kind of transport error."""
    status = status_of(exc)
    if status:
        return str(status)
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientError | ConnectionError):
        return "connection"
    return "other"


def status_message(exc: BaseException) -> str:
    """The API server's ``Status.message`` if the body has one, else a one-line summary."""
    if isinstance(exc, ApiException):
        raw: object = exc.body
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if isinstance(body, str) and body:
            try:
                parsed: Any = json.loads(body)
            except ValueError:
                return body[:300]
            if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
                return str(parsed["message"])
        return f"HTTP {exc.status}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


ApiErrorHook = Callable[[str, str, str], None]
"""Called with (cluster, verb, code) for every failed API call that is reported."""

_hooks: list[ApiErrorHook] = []


def add_api_error_hook(hook: ApiErrorHook) -> Callable[[], None]:
    """Register ``hook``; returns a function that unregisters it."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove


def report_api_error(cluster: str, verb: str, exc: BaseException) -> ErrorKind:
    """Tell every hook about a failed call; returns the error's kind for the caller's branch."""
    code = code_label(exc)
    for hook in list(_hooks):
        try:
            hook(cluster, verb, code)
        except Exception:  # a broken hook must not break the API call path
            log.exception("API error hook failed")
    return classify(exc)
