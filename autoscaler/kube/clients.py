"""API clients: the management cluster's, and one per tenant from a kubeconfig in a Secret.

A tenant's kubeconfig comes from a Secret that the platform team writes, but it is still
checked before use: it must be one self-contained context (inline certificates and token), so
that a Secret can never make this process read local files or run an ``exec`` credential
plugin. A malformed kubeconfig is a :class:`KubeconfigError` with a message naming the problem.

Every client made here is a :class:`TimedApiClient`: a request that does not say otherwise gets
the process's connect and total timeouts, so no call to any cluster can hang for ever.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config.config_exception import ConfigException

from autoscaler.kube import errors
from autoscaler.rawjson import RequestTimeouts, call_json

log = logging.getLogger(__name__)

# Fields that point at local files or programs; a kubeconfig from a Secret may not use them.
_FORBIDDEN_USER_FIELDS = ("exec", "auth-provider", "tokenFile", "client-certificate", "client-key")
_FORBIDDEN_CLUSTER_FIELDS = ("certificate-authority",)


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used; the message says where it came from and why."""


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    namespace: str
    name: str
    key: str = "value"

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name} key {self.key!r}"


class TimedApiClient(ApiClient):
    """An ApiClient whose requests get ``timeouts`` unless the caller passes its own."""

    def __init__(
        self, configuration: client.Configuration, timeouts: RequestTimeouts | None = None
    ) -> None:
        super().__init__(configuration)
        self.timeouts = timeouts or RequestTimeouts()

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            kwargs["_request_timeout"] = self.timeouts.request()
        return super().request(*args, **kwargs)


# Management cluster ---------------------------------------------------------------------


async def management_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    timeouts: RequestTimeouts | None = None,
) -> ApiClient:
    """A client for the cluster we run in, or the one ``kubeconfig`` (or $KUBECONFIG) names."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await config.load_kube_config(
                config_file=_kubeconfig_path(kubeconfig),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (ConfigException, OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        where = kubeconfig or "the in-cluster service account or default kubeconfig"
        raise KubeconfigError(f"cannot load {where}: {exc}") from exc
    return TimedApiClient(configuration, timeouts)


def _kubeconfig_path(given: str | None) -> str:
    path = given or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return os.path.expanduser(path.split(os.pathsep)[0])


# Tenant kubeconfigs ---------------------------------------------------------------------


def parse_kubeconfig(data: bytes | str, source: str) -> dict[str, Any]:
    """Parse and check a self-contained kubeconfig; ``source`` names it in error messages."""
    try:
        parsed = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(parsed, dict):
        raise KubeconfigError(f"{source}: a kubeconfig must be a mapping")
    context_name = parsed.get("current-context")
    contexts = _named(parsed, "contexts", "context", source)
    if not context_name:
        if len(contexts) != 1:
            raise KubeconfigError(f"{source}: no current-context and not exactly one context")
        context_name = next(iter(contexts))
    if context_name not in contexts:
        raise KubeconfigError(f"{source}: current-context {context_name!r} is not in contexts")
    context = contexts[context_name]
    clusters = _named(parsed, "clusters", "cluster", source)
    users = _named(parsed, "users", "user", source)
    cluster_name = context.get("cluster")
    if cluster_name not in clusters:
        raise KubeconfigError(f"{source}: context {context_name!r} names unknown cluster")
    cluster = clusters[cluster_name]
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{source}: cluster {cluster_name!r} has no http(s) server URL")
    for field in _FORBIDDEN_CLUSTER_FIELDS:
        if cluster.get(field):
            raise KubeconfigError(
                f"{source}: cluster.{field} refers to a local file; use {field}-data"
            )
    _check_base64(cluster, "certificate-authority-data", source)
    user_name = context.get("user")
    if user_name is not None:
        if user_name not in users:
            raise KubeconfigError(f"{source}: context {context_name!r} names unknown user")
        user = users[user_name]
        for field in _FORBIDDEN_USER_FIELDS:
            if user.get(field):
                raise KubeconfigError(
                    f"{source}: user.{field} is not allowed in a kubeconfig from a Secret "
                    "(it reads local files or runs programs); use inline token or *-data fields"
                )
        _check_base64(user, "client-certificate-data", source)
        _check_base64(user, "client-key-data", source)
    parsed["current-context"] = context_name
    return parsed


def _named(kubeconfig: dict[str, Any], section: str, inner: str, source: str) -> dict[str, Any]:
    entries = kubeconfig.get(section) or []
    if not isinstance(entries, list):
        raise KubeconfigError(f"{source}: {section} must be a list")
    result: dict[str, Any] = {}
    for index, entry in enumerate(entries):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("name"), str)
            or not isinstance(entry.get(inner), dict)
        ):
            raise KubeconfigError(f"{source}: {section}[{index}] needs a name and a {inner}")
        result[entry["name"]] = entry[inner]
    return result


def _check_base64(section: dict[str, Any], field: str, source: str) -> None:
    value = section.get(field)
    if value is None:
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise KubeconfigError(f"{source}: {field} is not base64") from None


async def client_from_kubeconfig(
    kubeconfig: dict[str, Any], source: str, timeouts: RequestTimeouts | None = None
) -> ApiClient:
    """An ApiClient for a kubeconfig that :func:`parse_kubeconfig` accepted."""
    configuration = client.Configuration()
    try:
        await config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)
        return TimedApiClient(configuration, timeouts)
    except Exception as exc:  # the loader raises many types on bad certificates or fields
        raise KubeconfigError(f"{source}: cannot build a client: {exc}") from exc


def kubeconfig_from_secret(secret: dict[str, Any], ref: SecretKeyRef) -> bytes:
    data = secret.get("data")
    if not isinstance(data, dict) or ref.key not in data:
        raise KubeconfigError(f"{ref}: the Secret has no such key")
    try:
        return base64.b64decode(data[ref.key], validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise KubeconfigError(f"{ref}: the value is not base64") from None


@dataclass(slots=True)
class TenantClient:
    tenant: str
    api: ApiClient
    ref: SecretKeyRef
    secret_version: str


class TenantClients:
    """One ApiClient per tenant, rebuilt when its kubeconfig Secret changes.

    A replaced or forgotten client is closed; whoever held it (the tenant's informers) must
    switch to the new one, which the changed identity of :meth:`get`'s result tells.
    """

    def __init__(
        self,
        management: ApiClient,
        cluster: str = "management",
        timeouts: RequestTimeouts | None = None,
    ) -> None:
        self._core = client.CoreV1Api(management)
        self._cluster = cluster
        self._timeouts = timeouts
        self._clients: dict[str, TenantClient] = {}

    async def get(self, tenant: str, ref: SecretKeyRef) -> TenantClient:
        """The tenant's client; reads the Secret and rebuilds the client if it changed.

        Raises :class:`KubeconfigError` for a missing or malformed Secret, and the API error
        if the Secret could not be read.
        """
        try:
            secret = await call_json(self._core.read_namespaced_secret, ref.name, ref.namespace)
        except Exception as exc:
            if errors.is_api_error(exc):
                errors.report_api_error(self._cluster, "get", exc)
            if errors.is_not_found(exc):
                raise KubeconfigError(f"{ref}: the Secret does not exist") from None
            raise
        meta = secret.get("metadata")
        version = str(meta.get("resourceVersion", "")) if isinstance(meta, dict) else ""
        current = self._clients.get(tenant)
        if current is not None and current.ref == ref and current.secret_version == version:
            return current
        source = f"tenant {tenant}: {ref}"
        kubeconfig = parse_kubeconfig(kubeconfig_from_secret(secret, ref), source)
        api = await client_from_kubeconfig(kubeconfig, source, self._timeouts)
        fresh = TenantClient(tenant=tenant, api=api, ref=ref, secret_version=version)
        self._clients[tenant] = fresh
        if current is not None:
            log.info("tenant %s: kubeconfig Secret changed, client rebuilt", tenant)
            await _close(current.api)
        return fresh

    def cached(self, tenant: str) -> TenantClient | None:
        return self._clients.get(tenant)

    async def forget(self, tenant: str) -> None:
        current = self._clients.pop(tenant, None)
        if current is not None:
            await _close(current.api)

    async def retain(self, tenants: Iterable[str]) -> None:
        """Close the clients of every tenant not in ``tenants``."""
        keep = set(tenants)
        for tenant in [t for t in self._clients if t not in keep]:
            await self.forget(tenant)

    async def close(self) -> None:
        await self.retain(())


async def _close(api: ApiClient) -> None:
    with contextlib.suppress(Exception):
        await api.close()
