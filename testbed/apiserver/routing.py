"""Routing and HTTP plumbing of the fake API server: which resource, object and verb a request
is for, discovery documents, request bodies and JSON responses."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from testbed.apiserver import discovery, errors
from testbed.apiserver.errors import ApiError
from testbed.apiserver.registry import Registry
from testbed.apiserver.resources import PODS, ResourceType
from testbed.apiserver.store import dump

JsonObject = dict[str, Any]
_JSON = "application/json"
TRUE_VALUES = ("true", "1", "True")


@dataclass(frozen=True, slots=True)
class Target:
    rtype: ResourceType
    namespace: str | None
    name: str
    subresource: str
    verb: str


def json_response(body: Any, status: int = 200) -> web.Response:
    raw = body if isinstance(body, bytes) else dump(body)
    return web.Response(body=raw, status=status, content_type=_JSON)


def error_response(error: ApiError) -> web.Response:
    response = json_response(error.status(), error.code)
    response.headers.update(error.headers)
    return response


def local_port(request: web.Request) -> int:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname else 0


def reset_connection(request: web.Request) -> web.StreamResponse:
    """Abort the connection so that the client sees a TCP reset and no answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


def int_param(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f"{name} must be an integer, not {text!r}") from None


def discovery_document(path: str, types: list[ResourceType], address: str) -> JsonObject | None:
    """The discovery document at ``path``, or None when the path is not a discovery path."""
    parts = [part for part in path.split("/") if part]
    if parts == ["version"]:
        return discovery.SERVER_VERSION
    if parts == ["api"]:
        return discovery.api_versions(address)
    if parts == ["apis"]:
        return discovery.api_group_list(types)
    if len(parts) == 2 and parts[0] == "apis":
        versions = discovery.group_versions(types, parts[1])
        if not versions:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return discovery.api_group(parts[1], versions)
    if parts == ["api", "v1"] or (len(parts) == 3 and parts[0] == "apis"):
        group, version = ("", "v1") if parts[0] == "api" else (parts[1], parts[2])
        listed = discovery.resource_list(types, group, version)
        if listed is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return listed
    return None


def route(request: web.Request, registry: Registry) -> Target:
    """The resource, object and verb a request is for."""
    parts = [part for part in request.path.split("/") if part]
    not_found = ApiError(404, "NotFound", "the server could not find the requested resource")
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise not_found
    watching = False
    if rest[0] == "watch":
        watching, rest = True, rest[1:]
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise not_found
    if rest[0] == "bindings" and group == "" and namespace and len(rest) == 1:
        return Target(PODS, namespace, "", "binding", "create")
    rtype = registry.resolve(group, version, rest[0])
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if (namespace is not None and not rtype.namespaced) or (
        subresource and subresource not in rtype.subresources
    ):
        raise not_found
    if rtype.namespaced and name and namespace is None:
        raise not_found
    verb = _verb(request, name, subresource, watching)
    return Target(rtype, namespace, name, subresource, verb)


def _verb(request: web.Request, name: str, subresource: str, watching: bool) -> str:
    method = request.method
    if subresource in ("eviction", "binding"):
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed on {subresource}")
        return "create"
    if method == "GET":
        if watching or request.query.get("watch") in TRUE_VALUES:
            return "watch"
        return "get" if name else "list"
    verbs = {
        ("POST", False): "create",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
        ("DELETE", False): "deletecollection",
    }
    verb = verbs.get((method, bool(name)))
    if verb is None:
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow {method} here")
    return verb


async def read_body(request: web.Request, *, required: bool = True) -> Any:
    """The request's JSON or YAML body."""
    raw = await request.read()
    if not raw:
        if required:
            raise errors.bad_request("the request has no body")
        return None
    media = request.content_type
    try:
        if media in ("application/yaml", "application/apply-patch+yaml"):
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as error:
        raise errors.bad_request(f"the body is not valid JSON: {error}") from error
