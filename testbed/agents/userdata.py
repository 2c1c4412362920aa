"""What a kubelet would register as, read from a VM's cloud-init user data.

The autoscaler writes a ``#cloud-config`` whose ``write_files`` hold a kubeadm
``JoinConfiguration``; its ``nodeRegistration`` names the Node and carries the kubelet's
``node-labels``, ``register-with-taints`` and ``provider-id``. A kubelet given a label or taint
it cannot parse refuses to start, so such user data is a :class:`UserDataError` and the VM never
joins, as it would not in a real cluster.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from autoscaler.api.naming import is_dns_subdomain, label_key_error, label_value_error

JOIN_CONFIGURATION: Final = "JoinConfiguration"
TAINT_EFFECTS: Final = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class UserDataError(ValueError):
    """User data a kubelet could not join with; the message names the field."""


@dataclass(frozen=True, slots=True)
class Registration:
    """The Node a VM's kubelet registers: its name, labels, taints and provider ID."""

    node_name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] = ()  # as in Node.spec.taints
    provider_id: str | None = None


def registration(user_data: str, vm_name: str) -> Registration:
    """The registration that ``user_data`` asks for; the VM's name when it names no Node.

    User data without a JoinConfiguration registers a plain Node named after the VM.
    """
    join = _join_configuration(user_data)
    if join is None:
        return Registration(vm_name)
    node_registration = join.get("nodeRegistration") or {}
    if not isinstance(node_registration, dict):
        raise UserDataError("JoinConfiguration.nodeRegistration must be a mapping")
    name = node_registration.get("name") or vm_name
    if not isinstance(name, str) or not is_dns_subdomain(name):
        raise UserDataError(f"nodeRegistration.name {name!r} is not a valid node name")
    args = _kubelet_args(node_registration.get("kubeletExtraArgs"))
    labels = parse_node_labels(args.get("node-labels", ""))
    taints = parse_taints(args.get("register-with-taints", ""))
    taints += _registration_taints(node_registration.get("taints"))
    return Registration(name, labels, taints, args.get("provider-id") or None)


def parse_node_labels(text: str) -> dict[str, str]:
    """``--node-labels``: ``key=value,key2=value2``."""
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise UserDataError(f"node-labels: {item!r} is not key=value")
        problem = label_key_error(key) or label_value_error(value)
        if problem:
            raise UserDataError(f"node-labels: {key!r}: {problem}")
        labels[key] = value
    return labels


def parse_taints(text: str) -> tuple[dict[str, str], ...]:
    """``--register-with-taints``: ``key=value:Effect,key:Effect``."""
    taints: list[dict[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        head, sep, effect = item.rpartition(":")
        if not sep:
            raise UserDataError(f"register-with-taints: {item!r} has no :Effect")
        key, _, value = head.partition("=")
        taints.append(_taint(key, value, effect, f"register-with-taints: {item!r}"))
    return tuple(taints)


def _taint(key: str, value: str, effect: str, where: str) -> dict[str, str]:
    problem = label_key_error(key) or label_value_error(value)
    if problem:
        raise UserDataError(f"{where}: {problem}")
    if effect not in TAINT_EFFECTS:
        raise UserDataError(f"{where}: effect {effect!r} is not one of {', '.join(TAINT_EFFECTS)}")
    taint = {"key": key, "effect": effect}
    if value:
        taint["value"] = value
    return taint


def _registration_taints(raw: Any) -> tuple[dict[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise UserDataError("nodeRegistration.taints must be a list")
    taints = []
    for index, item in enumerate(raw):
        where = f"nodeRegistration.taints[{index}]"
        if not isinstance(item, dict):
            raise UserDataError(f"{where} must be a mapping")
        key, value, effect = (item.get(name, "") for name in ("key", "value", "effect"))
        if not all(isinstance(part, str) for part in (key, value, effect)):
            raise UserDataError(f"{where}: key, value and effect must be strings")
        taints.append(_taint(key, value, effect, where))
    return tuple(taints)


def _kubelet_args(raw: Any) -> dict[str, str]:
    """kubeadm v1beta4 lists ``{name, value}``; v1beta3 used a plain mapping."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        pairs: Iterable[tuple[Any, Any]] = raw.items()
    elif isinstance(raw, list):
        if not all(isinstance(item, dict) for item in raw):
            raise UserDataError("kubeletExtraArgs entries must be {name, value} mappings")
        pairs = [(item.get("name"), item.get("value", "")) for item in raw]
    else:
        raise UserDataError("kubeletExtraArgs must be a list or a mapping")
    args: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise UserDataError(f"kubeletExtraArgs: {name!r}={value!r} is not a string pair")
        args[name] = value
    return args


def _load_yaml(text: str, what: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise UserDataError(f"{what} is not valid YAML: {error}") from None


def _join_configuration(user_data: str) -> dict[str, Any] | None:
    for document in _load_yaml(user_data, "the user data"):
        if isinstance(document, dict) and document.get("kind") == JOIN_CONFIGURATION:
            return document
        if isinstance(document, dict):
            found = _in_write_files(document.get("write_files"))
            if found is not None:
                return found
    return None


def _in_write_files(files: Any) -> dict[str, Any] | None:
    if files is None:
        return None
    if not isinstance(files, list):
        raise UserDataError("write_files must be a list")
    for index, entry in enumerate(files):
        if not isinstance(entry, dict) or not isinstance(entry.get("content", ""), str):
            raise UserDataError(f"write_files[{index}] must be a mapping with string content")
        content = entry.get("content", "")
        if entry.get("encoding") in ("b64", "base64"):
            try:
                content = base64.b64decode(content, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise UserDataError(f"write_files[{index}].content is not base64") from None
        if JOIN_CONFIGURATION not in content:
            continue
        for document in _load_yaml(content, f"write_files[{index}].content"):
            if isinstance(document, dict) and document.get("kind") == JOIN_CONFIGURATION:
                return document
    return None
