"""kubeadm bootstrap tokens in a tenant's ``kube-system``: one per VM, short-lived, cleaned up.

Each token Secret carries the tenant and VM labels, so that cleanup deletes only tokens this
autoscaler made, once they have expired or their VM is gone.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from autoscaler.api.cloudinit import BootstrapToken, bootstrap_token_secret, new_bootstrap_token
from autoscaler.core.model import TENANT_LABEL
from autoscaler.kube import errors
from autoscaler.rawjson import call_json

log = logging.getLogger(__name__)

VM_LABEL = "kvpool.io/vm"
TOKEN_NAMESPACE = "kube-system"
DEFAULT_TTL = 3600.0


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: BootstrapToken
    secret_name: str
    expires: float


async def create_bootstrap_token(
    api: ApiClient,
    tenant: str,
    vm: str,
    now: float,
    ttl: float = DEFAULT_TTL,
    *,
    rng: random.Random | None = None,
    cluster: str = "",
) -> IssuedToken:
    """Create a token Secret valid for ``ttl`` seconds; retries once on a token id clash."""
    core = client.CoreV1Api(api)
    source = rng or secrets.SystemRandom()
    expires = now + ttl
    labels = {TENANT_LABEL: tenant, VM_LABEL: vm}
    try:
        issued = await _create(core, new_bootstrap_token(source), expires, vm, labels, cluster)
    except Exception as exc:
        if not errors.is_conflict(exc):
            raise
        # Another token already has this id (1 in 36^6): draw again once.
        issued = await _create(core, new_bootstrap_token(source), expires, vm, labels, cluster)
    log.info("bootstrap token %s created for VM %s", issued.secret_name, vm)
    return issued


async def _create(
    core: client.CoreV1Api,
    token: BootstrapToken,
    expires: float,
    vm: str,
    labels: dict[str, str],
    cluster: str,
) -> IssuedToken:
    body = bootstrap_token_secret(
        token, expires, description=f"kubevirt-autoscaler join of {vm}", labels=labels
    )
    try:
        await call_json(core.create_namespaced_secret, TOKEN_NAMESPACE, body)
    except Exception as exc:
        if errors.is_api_error(exc):
            errors.report_api_error(cluster, "create", exc)
        raise
    return IssuedToken(token=token, secret_name=str(body["metadata"]["name"]), expires=expires)


def token_expiry(secret: dict[str, Any]) -> float | None:
    """When a bootstrap token Secret expires, or None if it does not say (or says nonsense)."""
    data = secret.get("data")
    raw = data.get("expiration") if isinstance(data, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        return datetime.fromisoformat(base64.b64decode(raw, validate=True).decode()).timestamp()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


async def cleanup_bootstrap_tokens(
    api: ApiClient,
    tenant: str,
    live_vms: Collection[str],
    now: float,
    *,
    cluster: str = "",
) -> list[str]:
    """Delete this tenant's token Secrets that expired or whose VM is gone; their names."""
    tokens = await list_bootstrap_tokens(api, tenant)
    return await delete_unneeded_tokens(api, tokens, live_vms, now, cluster=cluster)


async def list_bootstrap_tokens(api: ApiClient, tenant: str) -> list[dict[str, Any]]:
    """The token Secrets this autoscaler made in the tenant.

    A collector lists them *before* it looks at which VMs are live: every token listed was
    created before that look, so a launch under way is then either still in flight or has its
    VM, and its token is never taken for an orphan.
    """
    listing = await call_json(
        client.CoreV1Api(api).list_namespaced_secret,
        TOKEN_NAMESPACE,
        label_selector=f"{TENANT_LABEL}={tenant},{VM_LABEL}",
    )
    items = listing.get("items")
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


async def delete_unneeded_tokens(
    api: ApiClient,
    tokens: Collection[dict[str, Any]],
    live_vms: Collection[str],
    now: float,
    *,
    cluster: str = "",
) -> list[str]:
    """Delete the listed token Secrets that expired or whose VM is not live; their names."""
    core = client.CoreV1Api(api)
    deleted = []
    for secret in tokens:
        meta = secret.get("metadata") or {}
        name = meta.get("name")
        vm = (meta.get("labels") or {}).get(VM_LABEL)
        expires = token_expiry(secret)
        expired = expires is None or expires <= now
        if not isinstance(name, str) or (not expired and vm in live_vms):
            continue
        try:
            await call_json(core.delete_namespaced_secret, name, TOKEN_NAMESPACE)
        except Exception as exc:
            if not errors.is_api_error(exc):
                raise
            if not errors.is_not_found(exc):
                errors.report_api_error(cluster, "delete", exc)
                log.warning(
                    "cannot delete bootstrap token %s: %s", name, errors.status_message(exc)
                )
                continue
        deleted.append(name)
        log.info("bootstrap token %s deleted (%s)", name, "expired" if expired else "VM gone")
    return deleted
