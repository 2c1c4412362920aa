"""Calls that return the API server's JSON as plain dicts instead of generated model objects.

``kubernetes_asyncio`` builds a model object per item unless ``_preload_content=False`` is
passed; for 50k pods that costs seconds and hundreds of megabytes, and the raw dicts are what
the converters want anyway. With ``_preload_content=False`` the client returns the aiohttp
response as is, without raising on an error status, so :func:`call_json` does that here.

:class:`RequestTimeouts` is the one place where a request's time limits become an aiohttp
``ClientTimeout``: ``kubernetes_asyncio`` sends every request without any limit unless it is
given ``_request_timeout``, so a hung API server would hang its caller forever.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

JsonDict = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True, slots=True)
class RequestTimeouts:
    """Time limits of one request to an API server, in seconds."""

    connect: float = 10.0  # to get a connection (from the pool or a new one)
    total: float = 30.0  # connecting, sending, and reading the whole response

    def request(self) -> aiohttp.ClientTimeout:
        """For an ordinary request: bounded from connecting to the last byte of the body."""
        return aiohttp.ClientTimeout(
            total=self.total, connect=self.connect, sock_connect=self.connect
        )

    def stream(self) -> aiohttp.ClientTimeout:
        """For a watch: only connecting is bounded here; the watcher bounds the silences."""
        return aiohttp.ClientTimeout(total=None, connect=self.connect, sock_connect=self.connect)

    def with_total(self, total: float) -> RequestTimeouts:
        return RequestTimeouts(connect=min(self.connect, total), total=total)


def api_exception(status: int, reason: str, body: bytes | str = b"") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body.encode() if isinstance(body, str) else body
    return exc


async def read_response(response: Any) -> bytes:
    """The body of a raw aiohttp response; raises ApiException unless its status is 2xx."""
    try:
        body: bytes = await response.read()
    finally:
        response.release()
    status = int(response.status)
    if not 200 <= status <= 299:
        raise api_exception(status, str(response.reason or ""), body)
    return body


def parse_json_object(body: bytes, what: str) -> JsonDict:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError as exc:
        raise api_exception(0, f"{what}: the response is not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise api_exception(0, f"{what}: the response is not a JSON object")
    return parsed


async def call_json(func: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> JsonDict:
    """Call a generated API method and return its JSON body as a dict."""
    response = await func(*args, _preload_content=False, **kwargs)
    body = await read_response(response)
    return parse_json_object(body, getattr(func, "__name__", "API call"))
