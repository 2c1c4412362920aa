"""NodePool objects of a tenant, turned into the core's :class:`Pool`.

A pool whose spec or annotations are invalid is still returned, with ``settings`` None and
``error`` saying why, so that one bad NodePool disables only itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from autoscaler.api.annotations import parse_pool_annotations
from autoscaler.api.models import InvalidObject, NodePool, TenantCluster, load_nodepool
from autoscaler.core.model import (
    IMAGE_HASH_LABEL,
    POOL_LABEL,
    SHAPE_LABEL,
    TENANT_LABEL,
    Pool,
    Taint,
    TaintEffect,
)

RESERVED_LABELS: Final = (POOL_LABEL, TENANT_LABEL, IMAGE_HASH_LABEL, SHAPE_LABEL)
_MAX_LABEL_VALUE = 63


@dataclass(frozen=True, slots=True)
class PoolCheck:
    """A NodePool read against its tenant: the pool and every problem found, one per line."""

    pool: Pool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def pool_from_nodepool(nodepool: NodePool, tenant: TenantCluster) -> Pool:
    """The pool a validated NodePool describes, checked against its tenant's bounds."""
    return check_nodepool(nodepool, tenant).pool


def check_nodepool(nodepool: NodePool, tenant: TenantCluster) -> PoolCheck:
    name = nodepool.metadata.name
    template = nodepool.spec.template
    labels = {**template.labels, POOL_LABEL: name}
    taints = tuple(
        Taint(key=taint.key, value=taint.value, effect=TaintEffect(taint.effect))
        for taint in template.taints
    )
    errors: list[str] = []
    if len(name) > _MAX_LABEL_VALUE:
        errors.append(
            f"metadata.name: {name[:20]!r}... is {len(name)} characters; a pool name becomes "
            f"the {POOL_LABEL} label value and may have at most {_MAX_LABEL_VALUE}"
        )
    errors.extend(
        f"spec.template.labels: {key} is set by the autoscaler and may not be given"
        for key in RESERVED_LABELS
        if key in template.labels
    )
    result = parse_pool_annotations(nodepool.metadata.annotations, tenant)
    errors.extend(result.errors)
    if errors or result.settings is None:
        pool = Pool(name=name, labels=labels, taints=taints, error="; ".join(errors))
        return PoolCheck(pool, tuple(errors), result.warnings)
    image = tenant.image_sources()[result.settings.image]
    pool = Pool(
        name=name,
        labels=labels,
        taints=taints,
        settings=result.settings,
        image_hash=image.digest,
    )
    return PoolCheck(pool, (), result.warnings)


def pool_from_object(obj: Mapping[str, Any], tenant: TenantCluster) -> Pool:
    """Like :func:`pool_from_nodepool` for a raw object; never raises.

    An object that does not even parse as a NodePool becomes a disabled pool whose error lists
    every problem found.
    """
    # Anything unexpected must disable this one pool, never stop the controller.
    try:
        nodepool = load_nodepool(obj)
    except InvalidObject as exc:
        return Pool(name=_name_of(obj), error=str(exc))
    except Exception as exc:
        return Pool(name=_name_of(obj), error=f"NodePool could not be read: {exc!r}")
    try:
        return pool_from_nodepool(nodepool, tenant)
    except Exception as exc:
        return Pool(name=nodepool.metadata.name, error=f"NodePool could not be read: {exc!r}")


def _name_of(obj: object) -> str:
    metadata = obj.get("metadata") if isinstance(obj, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return name if isinstance(name, str) and name else "<unnamed>"
