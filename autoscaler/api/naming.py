"""Kubernetes name and label grammar, and the deterministic names and labels of a tenant's VMs.

A VM's name is a pure function of ``(tenant, pool, launch key)``, so an actuator that restarts
half-way through a launch recreates the same name and finds the VM it already made, instead of
leaking a second one. The user-data Secret and the root DataVolume are named after their VM.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Final

from autoscaler.api.policy import Shape

TENANT_LABEL: Final = "kvpool.io/tenant"
POOL_LABEL: Final = "kvpool.io/pool"
IMAGE_HASH_LABEL: Final = "kvpool.io/image-hash"
SHAPE_LABEL: Final = "kvpool.io/shape"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "kubevirt-autoscaler"
HOSTNAME_LABEL: Final = "kubernetes.io/hostname"
ZONE_LABEL: Final = "topology.kubernetes.io/zone"
REGION_LABEL: Final = "topology.kubernetes.io/region"
ZONE_LABELS: Final = (ZONE_LABEL, REGION_LABEL)

# Label values cannot hold every pool name (a NodePool name may be 253 characters long), so the
# exact name also travels in this annotation and wins over the label when both are present.
POOL_ANNOTATION: Final = "kvpool.io/pool-name"
# On a VM launched to replace nodes (consolidation): their names, comma-separated, so that a
# new leader links the replacement to the nodes it is to drain once it is up.
REPLACES_ANNOTATION: Final = "kvpool.io/replaces"

DNS_LABEL_MAX: Final = 63
DNS_SUBDOMAIN_MAX: Final = 253
USER_DATA_SUFFIX: Final = "-userdata"
ROOT_DISK_SUFFIX: Final = "-root"
# Short enough that every name derived from a VM name is itself a DNS-1123 label.
VM_NAME_MAX: Final = DNS_LABEL_MAX - max(len(USER_DATA_SUFFIX), len(ROOT_DISK_SUFFIX))

_DIGEST_CHARS: Final = 10  # base32: 50 bits, collisions are out of reach for any fleet size

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_NOT_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def _digest(*parts: str) -> str:
    raw = hashlib.sha256("\0".join(parts).encode()).digest()
    return base64.b32encode(raw).decode().lower()[:_DIGEST_CHARS]


# Grammar ----------------------------------------------------------------------------------


def is_dns_label(text: str) -> bool:
    """RFC 1123 label: lowercase alphanumerics and '-', at most 63 characters."""
    return len(text) <= DNS_LABEL_MAX and _DNS_LABEL.fullmatch(text) is not None


def replaced_nodes(value: str) -> tuple[str, ...]:
    """The node names of a ``kvpool.io/replaces`` value; anything but DNS-1123 subdomains is
    left out (the annotation can be edited by anyone who can edit the VM)."""
    return tuple(sorted({n for n in (p.strip() for p in value.split(",")) if is_dns_subdomain(n)}))


def is_dns_subdomain(text: str) -> bool:
    """RFC 1123 subdomain: dot-separated labels, at most 253 characters."""
    return len(text) <= DNS_SUBDOMAIN_MAX and _DNS_SUBDOMAIN.fullmatch(text) is not None


def label_key_error(key: object) -> str | None:
    """Why ``key`` is not a qualified name (``[prefix/]name``, as a label or taint key), or None.

    The rules of apimachinery's ``IsQualifiedName``: at most one '/', a non-empty DNS-1123
    subdomain prefix, a name of at most 63 alphanumerics, '-', '_' or '.' that starts and ends
    with an alphanumeric. The one implementation for the CRD models, the node affinity parser,
    the cloud-init builder and the testbed.
    """
    if not isinstance(key, str) or not key:
        return f"label key {key!r} is empty or not a string"
    parts = key.split("/")
    if len(parts) > 2:
        return f"label key {key!r} has more than one '/'"
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return f"label key {key!r} has an empty prefix"
        if not is_dns_subdomain(prefix):
            return f"label key {key!r}: prefix {prefix!r} is not a DNS subdomain"
    if not name:
        return f"label key {key!r} has an empty name"
    if len(name) > DNS_LABEL_MAX or not _QUALIFIED_NAME.fullmatch(name):
        return (
            f"label key {key!r}: name {name!r} must be at most 63 characters of "
            "alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"
        )
    return None


def label_value_error(value: object) -> str | None:
    """Why ``value`` is not a valid label (or taint) value, or None when it is."""
    if not isinstance(value, str):
        return f"label value {value!r} is not a string"
    if len(value) > DNS_LABEL_MAX or not _LABEL_VALUE.fullmatch(value):
        shown = value if len(value) <= DNS_LABEL_MAX else value[:20] + "..."
        return (
            f"label value {shown!r} must be empty or at most 63 characters of alphanumerics, "
            "'-', '_' or '.', starting and ending with an alphanumeric"
        )
    return None


def is_label_value(value: str) -> bool:
    return label_value_error(value) is None


# Sanitising -------------------------------------------------------------------------------


def dns_label_prefix(text: str, max_length: int) -> str:
    """A readable DNS-label fragment of ``text`` (possibly empty), at most ``max_length`` long."""
    cleaned = _NOT_DNS.sub("-", text.lower()).strip("-")
    cleaned = re.sub("-{2,}", "-", cleaned)
    return cleaned[:max_length].rstrip("-")


def label_value(text: str) -> str:
    """``text`` as a label value: unchanged when valid, else a readable part plus a digest.

    The digest keeps two different inputs from collapsing onto the same value.
    """
    if is_label_value(text):
        return text
    readable = _NOT_LABEL_VALUE.sub("-", text)
    readable = re.sub(r"^[^A-Za-z0-9]+", "", readable)
    readable = readable[: DNS_LABEL_MAX - _DIGEST_CHARS - 1]
    readable = re.sub(r"[^A-Za-z0-9]+$", "", readable)
    digest = _digest("label-value", text)
    return f"{readable}-{digest}" if readable else digest


# Names ------------------------------------------------------------------------------------


def vm_name(tenant: str, pool: str, launch_key: str) -> str:
    """The VM name for one launch: ``<tenant>-<pool>-<digest>``, a DNS-1123 label.

    Deterministic in its arguments; the digest covers all three in full, so distinct launch
    keys give distinct names even when the readable prefix is truncated.
    """
    digest = _digest("vm", tenant, pool, launch_key)
    prefix = dns_label_prefix(f"{tenant}-{pool}", VM_NAME_MAX - _DIGEST_CHARS - 1)
    return f"{prefix}-{digest}" if prefix else f"vm-{digest}"


def user_data_secret_name(vm: str) -> str:
    """The Secret that holds the VM's cloud-init user data."""
    return f"{vm}{USER_DATA_SUFFIX}"


def root_data_volume_name(vm: str) -> str:
    """The DataVolume (and PVC) that holds the VM's root disk, when cloned from a golden image."""
    return f"{vm}{ROOT_DISK_SUFFIX}"


def provider_id(vm: str) -> str:
    """The ``spec.providerID`` the tenant Node of this VM registers with."""
    return f"kubevirt://{vm}"


# Labels -----------------------------------------------------------------------------------


def shape_label_value(shape: Shape) -> str:
    """E.g. ``4cpu-16Gi``."""
    return label_value(str(shape))


def tenant_selector(tenant: str) -> str:
    """The label selector that finds every object the autoscaler made for ``tenant``."""
    return f"{TENANT_LABEL}={label_value(tenant)},{MANAGED_BY_LABEL}={MANAGED_BY}"


def object_labels(tenant: str, pool: str, image_hash: str, shape: Shape) -> dict[str, str]:
    """The labels on every object of one VM: the VM, its template, Secret and DataVolume."""
    return {
        TENANT_LABEL: label_value(tenant),
        POOL_LABEL: label_value(pool),
        IMAGE_HASH_LABEL: label_value(image_hash),
        SHAPE_LABEL: shape_label_value(shape),
        MANAGED_BY_LABEL: MANAGED_BY,
    }
