"""Checks every object goes through: names, labels, annotations, finalizers, and the few
per-type rules that the autoscaler relies on. Each check returns (field path, message) pairs."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

from testbed.apiserver.disruption import check_spec
from testbed.apiserver.resources import ResourceType

Problems = list[tuple[str, str]]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_ANNOTATIONS_LIMIT = 256 * 1024


def check_name(name: str, *, label: bool = False) -> str | None:
    """Why ``name`` is not a valid DNS-1123 subdomain (or label), or None."""
    limit = 63 if label else 253
    pattern = _DNS_LABEL if label else _DNS_SUBDOMAIN
    if len(name) > limit:
        return f"must be no more than {limit} characters"
    if not pattern.match(name):
        what = "RFC 1123 label" if label else "RFC 1123 subdomain"
        return (
            f"a lowercase {what} must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def check_label_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or check_name(prefix) is not None):
        return "the prefix must be a DNS-1123 subdomain"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            "name part must consist of alphanumeric characters, '-', '_' or '.', start and end "
            "with an alphanumeric character and be at most 63 characters"
        )
    return None


def check_metadata(rtype: ResourceType, metadata: Mapping[str, Any]) -> Problems:
    problems: Problems = []
    name = metadata.get("name")
    if isinstance(name, str) and (why := check_name(name, label=rtype.plural == "namespaces")):
        problems.append(("metadata.name", f"Invalid value: {name!r}: {why}"))
    labels = metadata.get("labels")
    if labels is not None:
        if not isinstance(labels, Mapping):
            problems.append(("metadata.labels", "must be a map of strings"))
        else:
            for key, value in labels.items():
                if (why := check_label_key(str(key))) is not None:
                    problems.append((f"metadata.labels[{key}]", f"Invalid key: {why}"))
                if not isinstance(value, str):
                    problems.append((f"metadata.labels[{key}]", "value must be a string"))
                elif len(value) > 63 or not _LABEL_VALUE.match(value):
                    problems.append(
                        (
                            f"metadata.labels[{key}]",
                            f"Invalid value: {value!r}: a label value must be at most 63 "
                            "alphanumeric characters, '-', '_' or '.', starting and ending "
                            "with an alphanumeric character",
                        )
                    )
    annotations = metadata.get("annotations")
    if annotations is not None:
        if not isinstance(annotations, Mapping):
            problems.append(("metadata.annotations", "must be a map of strings"))
        else:
            size = 0
            for key, value in annotations.items():
                if (why := check_label_key(str(key))) is not None:
                    problems.append((f"metadata.annotations[{key}]", f"Invalid key: {why}"))
                if not isinstance(value, str):
                    problems.append((f"metadata.annotations[{key}]", "value must be a string"))
                else:
                    size += len(key) + len(value)
            if size > _ANNOTATIONS_LIMIT:
                problems.append(
                    ("metadata.annotations", "Too long: must have at most 262144 bytes")
                )
    finalizers = metadata.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(item, str) for item in finalizers)
    ):
        problems.append(("metadata.finalizers", "must be a list of strings"))
    return problems


def _check_secret(secret: Mapping[str, Any]) -> Problems:
    problems: Problems = []
    data = secret.get("data") or {}
    if not isinstance(data, Mapping):
        return [("data", "must be a map of base64 strings")]
    for key, value in data.items():
        try:
            base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            problems.append((f"data[{key}]", "Invalid value: must be base64 encoded"))
    return problems


# Fields of a pod's spec that a running pod may still change (all others are immutable).
_MUTABLE_POD_SPEC = ("activeDeadlineSeconds", "tolerations", "schedulingGates")


def _pod_spec_frozen(spec: Mapping[str, Any]) -> dict[str, Any]:
    frozen = {key: value for key, value in spec.items() if key not in _MUTABLE_POD_SPEC}
    frozen["containers"] = [
        {key: value for key, value in container.items() if key != "image"}
        for container in spec.get("containers") or ()
        if isinstance(container, Mapping)
    ]
    return frozen


def _check_pod(pod: Mapping[str, Any]) -> Problems:
    spec = pod.get("spec")
    if not isinstance(spec, Mapping):
        return [("spec", "Required value")]
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        return [("spec.containers", "Required value")]
    problems: Problems = []
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping) or not container.get("name"):
            problems.append((f"spec.containers[{index}].name", "Required value"))
    return problems


def check_object(
    rtype: ResourceType, obj: Mapping[str, Any], old: Mapping[str, Any] | None
) -> Problems:
    """The per-type rules for a create (``old`` None) or an update."""
    key = rtype.group_resource
    if key == "pods":
        problems = _check_pod(obj)
        if old is not None and _pod_spec_frozen(old.get("spec") or {}) != _pod_spec_frozen(
            obj.get("spec") or {}
        ):
            problems.append(
                (
                    "spec",
                    "Forbidden: pod updates may not change fields other than "
                    "spec.containers[*].image, spec.activeDeadlineSeconds, spec.tolerations "
                    "(only additions to existing tolerations) and spec.schedulingGates",
                )
            )
        return problems
    if key == "secrets":
        return _check_secret(obj)
    if key == "poddisruptionbudgets.policy":
        return check_spec(obj)
    return []
