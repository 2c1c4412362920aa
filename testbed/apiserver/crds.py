"""CustomResourceDefinitions: read from YAML files or dicts and turned into resource types."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from testbed.apiserver.resources import META_FIELDS, ResourceType, field_path

CrdSource = str | Path | Mapping[str, Any]


class CrdError(ValueError):
    """A CRD that cannot be served; the message names the CRD and the field."""


def load_crds(source: CrdSource) -> list[dict[str, Any]]:
    """The CRDs in a dict, a YAML file (several documents allowed) or a directory of them."""
    if isinstance(source, Mapping):
        return [dict(source)]
    path = Path(source)
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml"), *path.glob("*.json")])
        return [crd for file in files for crd in load_crds(file)]
    try:
        text = path.read_text()
    except OSError as error:
        raise CrdError(f"cannot read CRD file {path}: {error}") from error
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        documents = list(yaml.load_all(text, Loader=loader))
    except yaml.YAMLError as error:
        raise CrdError(f"{path} is not valid YAML: {error}") from error
    crds = [
        document
        for document in documents
        if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition"
    ]
    if not crds:
        raise CrdError(f"{path} holds no CustomResourceDefinition")
    return crds


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise CrdError(f"{where}.{key} is required")
    return mapping[key]


def resource_types(crd: Mapping[str, Any]) -> list[ResourceType]:
    """One resource type per served version of ``crd``."""
    name = crd.get("metadata", {}).get("name", "<unnamed>") if isinstance(crd, Mapping) else "?"
    where = f"CustomResourceDefinition {name}: spec"
    spec = _require(crd, "spec", f"CustomResourceDefinition {name}")
    group = _require(spec, "group", where)
    names = _require(spec, "names", where)
    plural = _require(names, "plural", f"{where}.names")
    kind = _require(names, "kind", f"{where}.names")
    scope = spec.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        raise CrdError(f"{where}.scope must be Namespaced or Cluster, not {scope!r}")
    versions = _require(spec, "versions", where)
    if not isinstance(versions, list) or not versions:
        raise CrdError(f"{where}.versions must be a non-empty list")
    types: list[ResourceType] = []
    for index, version in enumerate(versions):
        at = f"{where}.versions[{index}]"
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise CrdError(f"{at}.schema.openAPIV3Schema must be an object")
        getters = dict(META_FIELDS)
        for selectable in version.get("selectableFields") or ():
            json_path = str(selectable.get("jsonPath", ""))
            keys = [key for key in json_path.split(".") if key]
            if keys:
                getters[".".join(keys)] = field_path(*keys)
        types.append(
            ResourceType(
                group=str(group),
                version=str(_require(version, "name", at)),
                plural=str(plural),
                kind=str(kind),
                namespaced=scope == "Namespaced",
                singular=str(names.get("singular") or kind.lower()),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                subresources=frozenset(key for key in ("status", "scale") if key in subresources),
                field_getters=getters,
                custom=True,
                schema=schema,
                tracks_generation=True,
                allows_unconditional_update=False,
            )
        )
    return types


def load_resource_types(sources: Iterable[CrdSource]) -> list[ResourceType]:
    return [
        rtype for source in sources for crd in load_crds(source) for rtype in resource_types(crd)
    ]


KUBEVIRT_CRDS = Path(__file__).resolve().parent / "kubevirt_crds"


def kubevirt_crd(name: str) -> Path:
    """One of KubeVirt's or CDI's CRD files shipped with the fake server, e.g.
    ``kubevirt-virtualmachine`` or ``cdi-datavolume``."""
    return KUBEVIRT_CRDS / f"{name}-crd.yaml"


def project_crds() -> list[Path]:
    """The CRDs to serve for the autoscaler: KubeVirt's and CDI's (shipped with the fake
    server) and, in a development checkout, the project's own (``manifests/crds``)."""
    root = Path(__file__).resolve().parents[2]
    candidates = (root / "manifests" / "crds", KUBEVIRT_CRDS)
    return [
        candidate
        for candidate in candidates
        if candidate.is_dir() and any(candidate.glob("*.yaml"))
    ]
