"""Cloud-init user data that joins a VM to its tenant cluster with ``kubeadm join``.

Labels and taints come from the tenant's NodePool, so they are checked against the Kubernetes
grammar and everything is written through a YAML emitter, never by string interpolation.
Bootstrap tokens are made here too, as pure functions of an injected random source.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import yaml

from autoscaler.api.naming import (
    HOSTNAME_LABEL,
    label_key_error,
    label_value_error,
    provider_id,
)
from autoscaler.api.timestamps import rfc3339
from autoscaler.api.vmbuilder import VMIdentity

JOIN_CONFIG_PATH: Final = "/etc/kubernetes/kubeadm-join.yaml"
KVPOOL_PREFIX: Final = "kvpool.io/"
TAINT_EFFECTS: Final = frozenset({"NoSchedule", "PreferNoSchedule", "NoExecute"})
DEFAULT_API_PORT: Final = 6443

_CA_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
_TOKEN_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_UNSAFE_NOTE: Final = (
    "No CA certificate hash was given: unsafeSkipCAVerification is set and this node "
    "does not verify the identity of the API server it joins."
)

# Labels in the kubernetes.io and k8s.io namespaces that a kubelet may set on its own Node
# (NodeRestriction); any other label there makes the kubelet refuse to start.
_KUBELET_LABELS: Final = frozenset(
    {
        HOSTNAME_LABEL,
        "kubernetes.io/instance-type",
        "kubernetes.io/os",
        "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type",
        "beta.kubernetes.io/os",
        "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone",
        "failure-domain.beta.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    }
)
_KUBELET_NAMESPACES: Final = ("kubelet.kubernetes.io", "node.kubernetes.io")


class TaintLike(Protocol):
    """Any taint value: the core's ``Taint`` and the NodePool model's both fit."""

    @property
    def key(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def effect(self) -> str: ...


@dataclass(frozen=True, slots=True)
class BootstrapToken:
    """A kubeadm bootstrap token ``<id>.<secret>``; ``repr`` hides the secret."""

    token_id: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _TOKEN.match(f"{self.token_id}.{self.secret}"):
            raise ValueError(
                "a bootstrap token must be 6 then 16 characters of [a-z0-9] (id.secret)"
            )

    def __str__(self) -> str:
        return f"{self.token_id}.{self.secret}"

    @classmethod
    def parse(cls, text: str) -> BootstrapToken:
        match = _TOKEN.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError("bootstrap token is not in the form [a-z0-9]{6}.[a-z0-9]{16}")
        return cls(match[1], match[2])


@dataclass(frozen=True, slots=True)
class KubeadmJoin:
    """Where and how a node joins: the tenant's API server, token and CA pins."""

    api_server_endpoint: str
    token: BootstrapToken
    ca_cert_hashes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for digest in self.ca_cert_hashes:
            if not isinstance(digest, str) or not _CA_HASH.match(digest):
                raise ValueError(
                    f"CA certificate hash {digest!r} must be 'sha256:' and 64 lowercase hex digits"
                )


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as ``|`` blocks so the embedded file stays readable."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_BlockDumper.add_representer(str, _represent_str)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_BlockDumper, sort_keys=False)


# Bootstrap tokens ------------------------------------------------------------------------


def new_bootstrap_token(rng: random.Random) -> BootstrapToken:
    """A fresh token; pass ``secrets.SystemRandom()`` outside tests."""
    token_id = "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(6))
    secret = "".join(rng.choice(_TOKEN_ALPHABET) for _ in range(16))
    return BootstrapToken(token_id, secret)


def bootstrap_token_secret(
    token: BootstrapToken,
    expires: float,
    description: str = "kubevirt-autoscaler node join",
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``kube-system`` Secret that makes ``token`` valid until ``expires`` (epoch seconds)."""
    fields = {
        "token-id": token.token_id,
        "token-secret": token.secret,
        "expiration": rfc3339(expires),
        "usage-bootstrap-authentication": "true",
        "usage-bootstrap-signing": "true",
        "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
        "description": description,
    }
    metadata: dict[str, Any] = {
        "name": f"bootstrap-token-{token.token_id}",
        "namespace": "kube-system",
    }
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in fields.items()},
    }


# Validation ------------------------------------------------------------------------------


def api_server_host_port(endpoint: str) -> str:
    """``host:port`` of an API server given as ``https://host[:port]`` or ``host[:port]``."""
    if not isinstance(endpoint, str) or not endpoint or any(c.isspace() for c in endpoint):
        raise ValueError(f"API server endpoint {endpoint!r} is empty or contains whitespace")
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    if parts.scheme != "https":
        raise ValueError(f"API server endpoint {endpoint!r} must use https")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"API server endpoint {endpoint!r} must be only a host and port")
    try:
        port = parts.port or DEFAULT_API_PORT
    except ValueError as exc:
        raise ValueError(f"API server endpoint {endpoint!r} has an invalid port") from exc
    host = parts.hostname
    if not host:
        raise ValueError(f"API server endpoint {endpoint!r} has no host")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_node_labels(labels: Mapping[str, str]) -> None:
    """Raise ValueError naming the first label a kubelet could not register with."""
    for key, value in labels.items():
        error = label_key_error(key) or label_value_error(value)
        if error:
            raise ValueError(f"node label {key!r}: {error}")
        prefix = key.rpartition("/")[0]
        if f"{prefix}/" == KVPOOL_PREFIX:
            raise ValueError(f"node label {key!r}: the kvpool.io/ prefix is reserved")
        if _restricted_namespace(prefix) and not _kubelet_may_set(key, prefix):
            raise ValueError(
                f"node label {key!r}: a kubelet may not set labels in the kubernetes.io or "
                "k8s.io namespaces (except kubelet.kubernetes.io/, node.kubernetes.io/ and "
                "the well-known topology labels)"
            )


def check_taints(taints: Sequence[TaintLike]) -> None:
    """Raise ValueError naming the first taint that is not valid."""
    for taint in taints:
        error = label_key_error(taint.key) or label_value_error(taint.value)
        if error:
            raise ValueError(f"taint {taint.key!r}: {error}")
        if str(taint.effect) not in TAINT_EFFECTS:
            raise ValueError(
                f"taint {taint.key!r}: effect {taint.effect!r} is not one of "
                f"{', '.join(sorted(TAINT_EFFECTS))}"
            )


def _restricted_namespace(prefix: str) -> bool:
    return any(prefix == ns or prefix.endswith(f".{ns}") for ns in ("kubernetes.io", "k8s.io"))


def _kubelet_may_set(key: str, prefix: str) -> bool:
    return key in _KUBELET_LABELS or any(
        prefix == ns or prefix.endswith(f".{ns}") for ns in _KUBELET_NAMESPACES
    )


# User data -------------------------------------------------------------------------------


def kubeadm_join_user_data(
    identity: VMIdentity,
    join: KubeadmJoin,
    pool_labels: Mapping[str, str] | None = None,
    pool_taints: Sequence[TaintLike] = (),
    zone_labels: Mapping[str, str] | None = None,
) -> str:
    """A ``#cloud-config`` that writes a kubeadm JoinConfiguration and runs ``kubeadm join``.

    The Node registers as the VM's name with ``providerID kubevirt://<vm>``, the pool's
    template labels, the zone labels of the hosts it is pinned to
    (``topology.kubernetes.io/zone`` and ``/region``) and the ``kvpool.io/`` labels, and the
    pool's template taints.
    """
    template_labels = {**(pool_labels or {}), **(zone_labels or {})}
    check_node_labels(template_labels)
    check_taints(pool_taints)
    node_labels = {
        **template_labels,
        **{k: v for k, v in identity.labels.items() if k.startswith(KVPOOL_PREFIX)},
    }
    kubelet_args = [
        {"name": "node-labels", "value": ",".join(f"{k}={v}" for k, v in node_labels.items())},
        {"name": "provider-id", "value": provider_id(identity.name)},
    ]
    if pool_taints:
        kubelet_args.append(
            {"name": "register-with-taints", "value": ",".join(map(_taint_flag, pool_taints))}
        )
    bootstrap: dict[str, Any] = {
        "apiServerEndpoint": api_server_host_port(join.api_server_endpoint),
        "token": str(join.token),
    }
    if join.ca_cert_hashes:
        bootstrap["caCertHashes"] = list(join.ca_cert_hashes)
    else:
        bootstrap["unsafeSkipCAVerification"] = True
    join_config = {
        "apiVersion": "kubeadm.k8s.io/v1beta4",
        "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": bootstrap},
        "nodeRegistration": {"name": identity.name, "kubeletExtraArgs": kubelet_args},
    }
    note = "" if join.ca_cert_hashes else f"# {_UNSAFE_NOTE}\n"
    cloud_config = {
        "hostname": identity.name,
        "write_files": [
            {
                "path": JOIN_CONFIG_PATH,
                "owner": "root:root",
                "permissions": "0600",
                "content": note + _dump(join_config),
            }
        ],
        "runcmd": [["kubeadm", "join", "--config", JOIN_CONFIG_PATH]],
    }
    return "#cloud-config\n" + note + _dump(cloud_config)


def _taint_flag(taint: TaintLike) -> str:
    effect = str(taint.effect)
    return f"{taint.key}={taint.value}:{effect}" if taint.value else f"{taint.key}:{effect}"
